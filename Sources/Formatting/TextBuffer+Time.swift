import Decode

/// Times written straight into the buffer, without Foundation's formatters.
extension TextBuffer {
    /// RFC 3339 UTC with microseconds, e.g. `2026-11-22T02:27:19.123456Z`.
    /// Seconds outside years 0-9999 are written as the nearest of those bounds, so any input
    /// time gives a valid line.
    public func appendTimestamp(seconds: Int, microseconds: Int) {
        let seconds = TextBuffer.clampedToYears(seconds)
        let microseconds = min(max(microseconds, 0), 999_999)
        if seconds == cachedSecond {
            appendRaw(&cachedDateTime, 20)
        } else {
            let start = used
            appendDateTime(seconds: seconds)
            withUnsafeMutableBytes(of: &cachedDateTime) { $0.copyMemory(from: UnsafeRawBufferPointer(start: storage + start, count: 20)) }
            cachedSecond = seconds
        }
        append(microseconds, width: 6)
        append(ascii: "Z")
    }

    /// `YYYY-MM-DDTHH:MM:SS.`: 20 bytes for years 0-9999.
    private func appendDateTime(seconds: Int) {
        appendDateTime(seconds: seconds, dateSeparator: "-", between: "T")
        append(ascii: ".")
    }

    /// p0f's log time, `[YYYY/MM/DD HH:MM:SS]` (UTC here; p0f writes local time).
    public func appendBracketedTime(seconds: Int) {
        append(ascii: "[")
        appendDateTime(seconds: TextBuffer.clampedToYears(seconds), dateSeparator: "/", between: " ")
        append(ascii: "]")
    }

    private func appendDateTime(seconds: Int, dateSeparator: Unicode.Scalar, between: Unicode.Scalar) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = TextBuffer.civilDate(daysSinceEpoch: days)
        append(year, width: 4); append(ascii: dateSeparator)
        append(month, width: 2); append(ascii: dateSeparator)
        append(day, width: 2); append(ascii: between)
        append(secondOfDay / 3600, width: 2); append(ascii: ":")
        append(secondOfDay / 60 % 60, width: 2); append(ascii: ":")
        append(secondOfDay % 60, width: 2)
    }

    /// Proleptic Gregorian date from days since 1970-01-01, via 400-year eras.
    static func civilDate(daysSinceEpoch: Int) -> (Int, Int, Int) {
        let z = daysSinceEpoch + 719_468  // days since 0000-03-01
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153  // 0 = March
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    /// 0000-01-01T00:00:00Z ... 9999-12-31T23:59:59Z in Unix seconds.
    static func clampedToYears(_ seconds: Int) -> Int {
        min(max(seconds, Packet.earliest), Packet.latest)
    }
}
