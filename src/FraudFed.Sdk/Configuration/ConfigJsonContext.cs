// Compile-time JSON metadata (System.Text.Json source generation) of the configuration records a bank reads and hashes, so
// that they are read and written without run-time reflection: the native bank program that `simulate --transport grpc`
// starts is compiled ahead of time and trimmed, where reflection-based serialization cannot make its generic accessors.
// The names, comments, unknown-name refusal and the rest come from ConfigJson's options. Used there only (ConfigJson.Resolver):
// this metadata sets an init-only setting the file omits to zero or null instead of the record's default, and simulate
// writes the bank processes' files whole.
using System.Text.Json.Serialization;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Linear;

namespace FraudFed.Sdk.Configuration;

[JsonSerializable(typeof(BankConfig))]
[JsonSerializable(typeof(FederationSettings))]
[JsonSerializable(typeof(GbdtOptions))]
[JsonSerializable(typeof(LogisticOptions))]
internal sealed partial class ConfigJsonContext : JsonSerializerContext;
