import API
import Fleet

/// The fleet store sink's counts as metrics (docs/OPERATIONS.md lists them).
func storeMetrics(_ report: StoreSink.Report) -> [MetricValue] {
    var values = report.rowsSent.sorted { $0.key < $1.key }.map {
        MetricValue(
            "synprint_store_rows_sent", Double($0.value), .counter, labels: [("table", $0.key)], help: "Rows ClickHouse took, by table")
    }
    values += [
        MetricValue("synprint_store_batches_sent", Double(report.batchesSent), .counter, help: "Batches ClickHouse took"),
        MetricValue("synprint_store_retries", Double(report.retries), .counter, help: "Inserts that failed and were tried again"),
        MetricValue(
            "synprint_store_rejected_batches", Double(report.rejectedBatches), .counter, help: "Batches ClickHouse refused as malformed"),
        MetricValue(
            "synprint_store_dropped_rows", Double(report.droppedRows), .counter, help: "Rows dropped: spool or memory bound reached"),
        MetricValue(
            "synprint_store_sampled_out", Double(report.sampledOut), .counter,
            help: "Events of connections --clickhouse-sample left out of the store"),
        MetricValue(
            "synprint_store_spool_write_failures", Double(report.spoolFailures), .counter,
            help: "Batches the spool could not write (disk full, folder gone); their rows are dropped"),
        MetricValue("synprint_store_spool_bytes", Double(report.spooledBytes), .gauge, help: "Bytes waiting in the spool"),
        MetricValue("synprint_store_spool_rows", Double(report.spooledRows), .gauge, help: "Rows waiting in the spool"),
        MetricValue(
            "synprint_store_insert_seconds", report.lastInsertSeconds ?? 0, .gauge, help: "Seconds the last successful insert took"),
    ]
    return values
}

/// The run summary's line for the store.
func storeSummary(_ sink: StoreSink) -> String {
    let r = sink.report
    let sent = r.rowsSent.values.reduce(0, +)
    let tables = r.rowsSent.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    var line = "  clickhouse \(sink.client.address.description): \(sent) rows sent in \(r.batchesSent) batches"
    if !tables.isEmpty { line += " (\(tables))" }
    if r.sampledOut > 0 { line += "; \(r.sampledOut) events of connections left out by the 1-in-\(sink.sampleEvery) sample" }
    line += "; \(r.retries) retries, \(r.rejectedBatches) batches rejected, \(r.droppedRows) rows dropped"
    if r.leftRows > 0 { line += ", \(r.leftRows) rows left in the spool" }
    if r.spoolFailures > 0 { line += "; \(r.spoolFailures) batches not spooled (\(r.spoolError ?? "?"))" }
    if let error = r.lastError { line += "; last error: \(error)" }
    return line
}
