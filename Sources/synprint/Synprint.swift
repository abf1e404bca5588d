import ArgumentParser

@main
struct Synprint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synprint",
        abstract: "Passive TCP/IP OS fingerprinting: names the OS behind every TCP SYN and SYN+ACK.",
        discussion: """
            Examples:
              synprint -r capture.pcap                 fingerprint every SYN in a file
              synprint -r capture.pcap --json --classify
              synprint -i eth0 --classify port 443     live, with a BPF filter
              synprint db validate database/synprint.db.jsonl
            """,
        subcommands: [CaptureCommand.self, DatabaseCommand.self],
        defaultSubcommand: CaptureCommand.self)
}
