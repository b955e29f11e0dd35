// model.exact.json: every field of a trained model, bit for bit, so that a model trained in another process (a `bank
// train` child of `simulate --transport grpc`) can be compared with BitwiseEquals against the model of the plain-sum run.
// LightGBM text drops fields that BitwiseEquals compares (split bins, the bins, the base score folded into the leaves),
// so it cannot serve. Doubles are written by System.Text.Json in their shortest round-trip form, which parses back to
// the same bits; named literals (NaN, Infinity) are allowed so that no value is refused or altered.
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using FraudFed.Learning.Gbdt;
using FraudFed.Learning.Linear;

namespace FraudFed.Cli.Infrastructure;

/// <summary>Writes and reads a <see cref="GbdtModel"/> or <see cref="LogisticModel"/> without loss.</summary>
internal static class ExactModelFile
{
    /// <summary>The file name `bank train --exact-model` writes.</summary>
    public const string FileName = "model.exact.json";
    private const string Format = "fraudfed-exact-model/1";

    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        RespectRequiredConstructorParameters = true,
        // Compile-time metadata only in the ahead-of-time compiled bank program (which writes the file); reflection elsewhere.
        TypeInfoResolver = JsonSerializer.IsReflectionEnabledByDefault ? new DefaultJsonTypeInfoResolver() : ExactModelJsonContext.Default,
    };

    /// <summary>The file: its format, the model's kind and the model (a <see cref="GbdtFile"/>).</summary>
    internal sealed record GbdtEnvelope(string Format, string Kind, GbdtFile Model);

    /// <summary>The file: its format, the model's kind and the model (a <see cref="LogisticFile"/>).</summary>
    internal sealed record LogisticEnvelope(string Format, string Kind, LogisticFile Model);

    internal sealed record GbdtFile(IReadOnlyList<string> FeatureNames, double[][] Thresholds, bool[] HasMissing, double BaseScore,
        GbdtTree[] Trees, int GradientScaleBits, GbdtOptions Options);

    internal sealed record LogisticFile(IReadOnlyList<string> FeatureNames, double[] Mean, double[] Std, double[] Weights, int WeightScaleBits);

    /// <summary>The model (a <see cref="GbdtModel"/> or a <see cref="LogisticModel"/>) as UTF-8 JSON.</summary>
    public static byte[] Serialize(object model) => model switch
    {
        GbdtModel g => JsonSerializer.SerializeToUtf8Bytes(new GbdtEnvelope(Format, "gbdt", new GbdtFile(g.FeatureNames, g.Bins.Thresholds.ToArray(),
            g.Bins.HasMissing.ToArray(), g.BaseScore, g.Trees.ToArray(), g.GradientScaleBits, g.Options)), Options),
        LogisticModel l => JsonSerializer.SerializeToUtf8Bytes(new LogisticEnvelope(Format, "logistic", new LogisticFile(l.FeatureNames, l.Mean, l.Std, l.Weights, l.WeightScaleBits)), Options),
        _ => throw new ArgumentException($"Not a trained model: {model?.GetType().Name ?? "null"}.", nameof(model)),
    };

    /// <summary>Reads what <see cref="Serialize"/> wrote.</summary>
    /// <exception cref="InvalidDataException">not such a file, or a model whose parts do not fit together.</exception>
    public static object Deserialize(ReadOnlySpan<byte> utf8)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(utf8.ToArray());
            JsonElement root = doc.RootElement;
            if (root.GetProperty("format").GetString() != Format) throw new InvalidDataException($"not a {Format} file.");
            JsonElement model = root.GetProperty("model");
            return root.GetProperty("kind").GetString() switch
            {
                "gbdt" => Gbdt(model.Deserialize<GbdtFile>(Options)!),
                "logistic" => model.Deserialize<LogisticFile>(Options) is { } l
                    ? LogisticModel.FromParts(l.FeatureNames, l.Mean, l.Std, l.Weights, l.WeightScaleBits)
                    : throw new InvalidDataException("an empty logistic model."),
                var other => throw new InvalidDataException($"an unknown model kind '{other}'."),
            };
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or ArgumentException or InvalidOperationException)
        {
            throw new InvalidDataException($"{FileName}: {e.Message}", e);
        }
    }

    private static GbdtModel Gbdt(GbdtFile f)
    {
        if (f.Thresholds.Length != f.FeatureNames.Count) throw new InvalidDataException($"{f.Thresholds.Length} bin lists for {f.FeatureNames.Count} features.");
        return new GbdtModel(f.FeatureNames, new FeatureBins(f.Thresholds, f.HasMissing), f.BaseScore, f.Trees, f.GradientScaleBits, f.Options);
    }
}

/// <summary>Compile-time JSON metadata of the exact model file (the native bank program writes it without run-time reflection).</summary>
[JsonSerializable(typeof(ExactModelFile.GbdtEnvelope))]
[JsonSerializable(typeof(ExactModelFile.LogisticEnvelope))]
internal sealed partial class ExactModelJsonContext : JsonSerializerContext;
