/// Where a database entry comes from.
public enum Provenance: String, Sendable, CaseIterable {
    case curated, learned, imported
}
