// Results of the live conformance flows (`fraudfed conformance --self|--target`): one named check each, so a
// report can be printed as a table and as one JSON line (SPEC.md section 13, "Live conformance").
namespace FraudFed.Conformance.Live;

/// <summary>Outcome of one live conformance check.</summary>
/// <param name="Name">Stable check name, '/'-separated, e.g. <c>appliance/replay-refused</c> or <c>bank/second-active-set-refused</c>.</param>
/// <param name="Passed">True when the party under test behaved as the protocol requires.</param>
/// <param name="Detail">What was observed (on failure: what was expected instead). Never holds a secret.</param>
/// <param name="Seconds">Wall time of the check, seconds.</param>
public sealed record LiveCheckResult(string Name, bool Passed, string Detail, double Seconds);
