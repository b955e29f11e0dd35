// The one map between a refusal's ViolationReason and the ViolationReasonCode of protocols/fraudfed/v1/common.proto
// (SPEC.md 14.1): the code is the reason plus one, 0 (UNSPECIFIED) names none. The wire mappers (HeWire, MaskingWire)
// carry it in Abort; the appliance and the SDK name it in the gRPC trailer `fraudfed-violation` (SPEC.md 14.5) through
// Name / TryParseName, so no code outside the mappers touches the generated enum.
using FraudFed.Cryptography;
using FraudFed.Protocol.Wire.V1;

namespace FraudFed.Protocol;

/// <summary>Refusal reasons as the wire names them (SPEC.md 14.1 abort codes, 14.5 trailer).</summary>
public static class WireReasons
{
    /// <summary>The wire code of <paramref name="reason"/>: the reason plus one.</summary>
    internal static ViolationReasonCode Code(ViolationReason reason) => (ViolationReasonCode)((int)reason + 1);

    /// <summary>The reason of a received wire code; UNSPECIFIED or a code this party does not know is Malformed.</summary>
    /// <exception cref="ProtocolViolationException">Malformed: code 0 or above the last known code.</exception>
    internal static ViolationReason FromCode(ViolationReasonCode code) =>
        code is > ViolationReasonCode.Unspecified and <= ViolationReasonCode.InsecureParameters ? (ViolationReason)((int)code - 1)
            : throw Error.Violation(ViolationReason.Malformed, "unknown abort reason");

    /// <summary>The name of <paramref name="reason"/> on the wire outside protobuf (the gRPC trailer): the common.proto
    /// ViolationReasonCode name without its prefix, in the C# casing of the generated enum, e.g. <c>Malformed</c>.</summary>
    public static string Name(ViolationReason reason) => Code(reason).ToString();

    /// <summary>Reads a name written by <see cref="Name"/> back.</summary>
    /// <returns>False for null, an unknown name, or UNSPECIFIED.</returns>
    public static bool TryParseName(string? name, out ViolationReason reason)
    {
        reason = default;
        if (name is null || !Enum.TryParse(name, out ViolationReasonCode code) || code == ViolationReasonCode.Unspecified) return false;
        int r = (int)code - 1;
        if (!Enum.IsDefined(typeof(ViolationReason), r)) return false;
        reason = (ViolationReason)r;
        return true;
    }
}
