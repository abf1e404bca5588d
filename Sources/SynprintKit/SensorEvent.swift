import Match
import Verdict

/// What the sensor reports, in capture order: every SYN and SYN+ACK, and every judged request.
public enum SensorEvent: Sendable {
    case syn(SynObservation)
    case http(JudgedRequest)
}
