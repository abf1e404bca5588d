import Decode
import Features

/// Addresses and times written straight into a `TextBuffer`, without Foundation.
extension TextBuffer {
    public func append(ip: IPAddress) {
        if !ip.isV6 {
            let v = ip.v4
            append(v >> 24); append(ascii: ".")
            append((v >> 16) & 0xFF); append(ascii: ".")
            append((v >> 8) & 0xFF); append(ascii: ".")
            append(v & 0xFF)
            return
        }
        var groups = InlineArray<8, UInt16>(repeating: 0)
        for i in 0..<4 {
            groups[i] = UInt16(truncatingIfNeeded: ip.high >> UInt64(48 - 16 * i))
            groups[i + 4] = UInt16(truncatingIfNeeded: ip.low >> UInt64(48 - 16 * i))
        }
        // RFC 5952: the longest run of two or more zero groups becomes "::" (the first on a tie).
        var bestStart = -1, bestLength = 1, runStart = -1
        for i in 0...8 {
            if i < 8, groups[i] == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart > bestLength { bestStart = runStart; bestLength = i - runStart }
                runStart = -1
            }
        }
        var i = 0
        while i < 8 {
            if i == bestStart {
                append("::")
                i += bestLength
                continue
            }
            if i > 0, i != bestStart + bestLength { append(ascii: ":") }
            appendHex(groups[i])
            i += 1
        }
    }

    /// RFC 3339 UTC with microseconds, e.g. `2026-11-22T02:27:19.123456Z`.
    public func appendTimestamp(seconds: Int, microseconds: Int) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = TextBuffer.civilDate(daysSinceEpoch: days)
        append(year, width: 4); append(ascii: "-")
        append(month, width: 2); append(ascii: "-")
        append(day, width: 2); append(ascii: "T")
        append(secondOfDay / 3600, width: 2); append(ascii: ":")
        append(secondOfDay / 60 % 60, width: 2); append(ascii: ":")
        append(secondOfDay % 60, width: 2); append(ascii: ".")
        append(microseconds, width: 6); append(ascii: "Z")
    }

    /// Proleptic Gregorian date from days since 1970-01-01, via 400-year eras.
    static func civilDate(daysSinceEpoch: Int) -> (Int, Int, Int) {
        let z = daysSinceEpoch + 719_468                 // days since 0000-03-01
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153       // 0 = March
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
