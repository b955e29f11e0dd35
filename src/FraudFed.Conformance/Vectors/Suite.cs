// The protocol conformance suite: every file under protocols/vectors
// is consumed by exactly one IVectorFile, which recomputes what the file pins from the inputs in the file
// (independently of the generator where possible) and reports one result per named case. The same code runs
// under `fraudfed conformance` and under the NUnit project tests/FraudFed.Conformance.
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Cryptography;

namespace FraudFed.Conformance.Vectors;

/// <summary>A recomputation disagreed with a vector.</summary>
internal sealed class ConformanceException(string message) : Exception(message);

/// <summary>One named check of a vector file; throws on failure.</summary>
internal sealed record CheckCase(string Name, Action Run);

/// <summary>One vector file: where it lives, how it is generated (if FraudFed derives it) and how it is checked.</summary>
internal interface IVectorFile
{
    /// <summary>Path below protocols/vectors, '/'-separated, e.g. "masking/transcript-3-banks.json".</summary>
    string Path { get; }

    /// <summary>True when `fraudfed vectors generate` writes the file (false for vectors copied from RFCs and NIST).</summary>
    bool Generated { get; }

    /// <summary>Builds the file's content deterministically (only when <see cref="Generated"/>).</summary>
    JsonObject Generate();

    /// <summary>The checks of the file's content.</summary>
    IEnumerable<CheckCase> Cases(JsonElement root);
}

/// <summary>Outcome of one check case of a vector file.</summary>
/// <param name="Name">The case name, unique within its file (e.g. <c>vector-3/decode</c>).</param>
/// <param name="Passed">True when the recomputation agreed with the file.</param>
/// <param name="Message">Why the case failed; null when it passed.</param>
public sealed record CaseResult(string Name, bool Passed, string? Message);

/// <summary>Outcome of one vector file.</summary>
/// <param name="Path">The file's path below the vector directory, '/'-separated (e.g. <c>rlwe/ntt.json</c>).</param>
/// <param name="Cases">Every case run, in order.</param>
public sealed record FileResult(string Path, IReadOnlyList<CaseResult> Cases)
{
    /// <summary>True when the file has at least one case and every case passed.</summary>
    public bool Passed => Cases.Count > 0 && Cases.All(c => c.Passed);
}

/// <summary>
/// The offline half of the conformance suite: the registry of vector files under <c>protocols/vectors</c>, the
/// checker that recomputes each one (SPEC.md section 13) and the deterministic generator of FraudFed's derived
/// vectors. Used by <c>fraudfed vectors generate|check</c> and by the NUnit project FraudFed.Conformance.Tests.
/// </summary>
public static class ConformanceSuite
{
    /// <summary>Every vector file the suite knows, in a fixed order.</summary>
    internal static IReadOnlyList<IVectorFile> Files { get; } =
    [
        new RfcX25519Vectors(), new RfcEd25519Vectors(), new RfcHkdfVectors(), new RfcPrgVectors(),
        new PrgModPow2Vectors(), new DeterministicRandomVectors(), new CommitmentVectors(), new KeyScheduleVectors(), new AeadShareVectors(), new ShamirVectors(), new QuantizerVectors(),
        new NeighbourGraphVectors(), new MaskingTranscriptVectors(MaskingTranscriptVectors.Plain), new MaskingTranscriptVectors(MaskingTranscriptVectors.Dropout),
        new MaskingTranscriptVectors(MaskingTranscriptVectors.SecAggPlus),
        new RlweParameterVectors(), new NttVectors(), new CrsVectors(), new CiphertextVectors(), new CollectiveKeyVectors(), new ThresholdVectors(), new SignedUploadVectors(),
        new RnsDecodingVectors(), new ModulusSwitchVectors(), new RetiredKindVectors(), new ChannelVectors(), new HeSessionTranscriptVectors(),
        new HeWireVectors(), new MaskingWireVectors(), new TrainingWireVectors(), new ServiceWireVectors(),
    ];

    /// <summary>The checker of a relative path, or null.</summary>
    internal static IVectorFile? Find(string relativePath) => Files.FirstOrDefault(f => f.Path == relativePath);

    /// <summary>protocols/vectors of the nearest ancestor (of the working directory, then of the binaries) holding FraudFed.sln.</summary>
    /// <exception cref="DirectoryNotFoundException">No ancestor holds FraudFed.sln.</exception>
    public static string FindVectorDirectory()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(System.IO.Path.Combine(dir.FullName, "FraudFed.sln")))
                    return System.IO.Path.Combine(dir.FullName, "protocols", "vectors");
        }
        throw new DirectoryNotFoundException("protocols/vectors not found: pass --vectors DIR.");
    }

    /// <summary>The .json files below <paramref name="directory"/> as '/'-separated relative paths, ordinal order.</summary>
    public static IReadOnlyList<string> ListFiles(string directory) =>
        Directory.Exists(directory)
            ? Directory.GetFiles(directory, "*.json", SearchOption.AllDirectories)
                .Select(f => System.IO.Path.GetRelativePath(directory, f).Replace('\\', '/'))
                .Order(StringComparer.Ordinal).ToArray()
            : [];

    /// <summary>Files on disk plus files the suite expects, ordinal order.</summary>
    public static IReadOnlyList<string> AllPaths(string directory) =>
        ListFiles(directory).Union(Files.Select(f => f.Path)).Order(StringComparer.Ordinal).ToArray();

    /// <summary>The cases of one file: existence, description, a consumer, then the consumer's checks.</summary>
    internal static IReadOnlyList<CheckCase> CasesOf(string directory, string relativePath)
    {
        string full = System.IO.Path.Combine(directory, relativePath);
        if (!File.Exists(full))
        {
            string fix = Find(relativePath) is { Generated: false }
                ? "copy it from the FraudFed repository's protocols/vectors (it is copied from an RFC or NIST; `fraudfed vectors generate` never writes it)."
                : $"run `fraudfed vectors generate --out {directory}`.";
            return [new CheckCase("exists", () => throw new ConformanceException($"{relativePath} is missing: {fix}"))];
        }
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(full));
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            return [new CheckCase("parse", () => throw new ConformanceException("not valid JSON: " + e.Message))];
        }
        var cases = new List<CheckCase>
        {
            new("description", () =>
            {
                bool ok = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("description", out JsonElement d)
                    && d.ValueKind == JsonValueKind.String && d.GetString()!.Trim().Length >= 20;
                Expect.True(ok, "the file needs a top-level \"description\" saying what it pins and where it comes from");
            }),
        };
        IVectorFile? checker = Find(relativePath);
        if (checker is null)
        {
            cases.Add(new CheckCase("consumed", () => throw new ConformanceException("no conformance check consumes this file (orphan)")));
            return cases;
        }
        List<CheckCase> own;
        try { own = checker.Cases(root).ToList(); }
        catch (Exception e)
        {
            cases.Add(new CheckCase("structure", () => throw new ConformanceException("cannot enumerate cases: " + Plain(e))));
            return cases;
        }
        cases.AddRange(own);
        var present = own.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        string[] missing = ExpectedCaseNames(checker).Where(n => !present.Contains(n)).ToArray();
        if (missing.Length > 0)
        {
            string list = string.Join(", ", missing.Take(8)) + (missing.Length > 8 ? $" and {missing.Length - 8} more" : "");
            cases.Add(new CheckCase("complete", () => throw new ConformanceException(
                $"{missing.Length} expected case(s) missing: {list} (a vector file must hold every case the suite expects)")));
        }
        return cases;
    }

    /// <summary>
    /// Case names of the vectors copied from RFCs and NIST, pinned to the committed files (their cases are named by
    /// position, so a shortened list loses the last names).
    /// </summary>
    private static readonly IReadOnlyDictionary<string, string[]> PinnedCases = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["x25519/rfc7748.json"] = ["scalar-mult-1", "scalar-mult-2", "diffie-hellman-1"],
        ["ed25519/rfc8032.json"] = ["test-1/sign", "test-1/tamper", "test-2/sign", "test-2/tamper", "test-3/sign", "test-3/tamper"],
        ["hkdf/rfc5869.json"] = ["a.1", "a.2", "a.3"],
        ["prg/sp800-38a.json"] = ["f.5.5-block-1"],
    };

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<string[]>> GeneratedCaseNames = new(StringComparer.Ordinal);

    /// <summary>
    /// Every case name a complete file of <paramref name="checker"/> holds: for a generated file, the names the checker
    /// gives its freshly generated content (computed once per process); for an RFC/NIST file, the pinned names.
    /// </summary>
    internal static IReadOnlyList<string> ExpectedCaseNames(IVectorFile checker)
    {
        if (!checker.Generated) return PinnedCases.TryGetValue(checker.Path, out string[]? pinned) ? pinned : [];
        return GeneratedCaseNames.GetOrAdd(checker.Path, _ => new Lazy<string[]>(() =>
        {
            using var doc = JsonDocument.Parse(Serialize(checker.Generate()));
            return checker.Cases(doc.RootElement.Clone()).Select(c => c.Name).ToArray();
        })).Value;
    }

    /// <summary>Runs every case of one file (never throws for a failing case: the result says why).</summary>
    public static FileResult Run(string directory, string relativePath)
    {
        var results = new List<CaseResult>();
        foreach (CheckCase c in CasesOf(directory, relativePath)) results.Add(RunCase(c));
        return new FileResult(relativePath, results);
    }

    /// <summary>Runs one case, catching its failure.</summary>
    internal static CaseResult RunCase(CheckCase c)
    {
        try
        {
            c.Run();
            return new CaseResult(c.Name, true, null);
        }
        catch (Exception e)
        {
            return new CaseResult(c.Name, false, e is ConformanceException ? e.Message : Plain(e));
        }
    }

    /// <summary>
    /// A failure other than a disagreement, in words and without a .NET type name: a missing key, a value of the wrong
    /// JSON kind, bad hex or a length out of range all mean the file lacks or garbles a field the check reads.
    /// </summary>
    internal static string Plain(Exception e)
    {
        string message = e.Message;
        if (e is ArgumentException { ParamName: not null })
        {
            int cut = message.LastIndexOf(" (Parameter '", StringComparison.Ordinal);
            if (cut > 0) message = message[..cut];
        }
        return e is KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException or IndexOutOfRangeException
                or NullReferenceException or OverflowException or JsonException
            ? $"a field the check needs is missing or malformed ({message})"
            : $"the check could not run ({message})";
    }

    /// <summary>Runs every file of <see cref="AllPaths"/>, in order.</summary>
    public static IReadOnlyList<FileResult> RunAll(string directory) => AllPaths(directory).Select(p => Run(directory, p)).ToArray();

    /// <summary>
    /// Writes every generated file below <paramref name="directory"/>, deterministically (the same bytes on every run).
    /// All files are built in memory first; each is then written to a temporary file beside its target and renamed
    /// into place, so an interrupted run never leaves a half-written vector.
    /// </summary>
    /// <returns>The relative paths written, in registry order.</returns>
    public static IReadOnlyList<string> Generate(string directory)
    {
        var built = Files.Where(f => f.Generated).Select(f => (f.Path, Text: Serialize(f.Generate()))).ToArray();
        foreach ((string path, string text) in built)
        {
            string full = System.IO.Path.Combine(directory, path);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
            string temp = full + ".tmp-" + Environment.ProcessId;
            File.WriteAllText(temp, text);
            File.Move(temp, full, overwrite: true);
        }
        return built.Select(b => b.Path).ToArray();
    }

    /// <summary>Canonical JSON text: two-space indentation, LF line ends, ASCII escapes relaxed, final newline.</summary>
    internal static string Serialize(JsonNode node)
    {
        var options = new JsonSerializerOptions { WriteIndented = true, NewLine = "\n", Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        return node.ToJsonString(options) + "\n";
    }
}

/// <summary>Assertions that throw <see cref="ConformanceException"/>.</summary>
internal static class Expect
{
    public static void True(bool condition, string what)
    {
        if (!condition) throw new ConformanceException(what);
    }

    public static void Equal<T>(string what, T expected, T actual)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual)) throw new ConformanceException($"{what}: expected {expected}, got {actual}");
    }

    public static void Hex(string what, string expectedHex, ReadOnlySpan<byte> actual)
    {
        string a = Convert.ToHexStringLower(actual);
        if (!string.Equals(a, expectedHex, StringComparison.OrdinalIgnoreCase))
            throw new ConformanceException($"{what}: expected {Short(expectedHex)}, got {Short(a)}");
    }

    public static void Values(string what, IReadOnlyList<ulong> expected, ReadOnlySpan<ulong> actual)
    {
        if (expected.Count != actual.Length) throw new ConformanceException($"{what}: expected {expected.Count} values, got {actual.Length}");
        for (int i = 0; i < expected.Count; i++)
            if (expected[i] != actual[i]) throw new ConformanceException($"{what}: value {i} expected {expected[i]}, got {actual[i]}");
    }

    /// <summary>The action must be refused with a ProtocolViolationException (of one of the reasons, when given).</summary>
    public static ProtocolViolationException Refused(string what, Action action, params ViolationReason[] reasons)
    {
        try { action(); }
        catch (ProtocolViolationException e)
        {
            if (reasons.Length > 0 && !reasons.Contains(e.Reason)) throw new ConformanceException($"{what}: refused with {e.Reason}, expected {string.Join(" or ", reasons)}");
            return e;
        }
        throw new ConformanceException($"{what}: accepted, but it must be refused");
    }

    private static string Short(string hex) => hex.Length <= 72 ? hex : hex[..32] + "..." + hex[^32..] + $" ({hex.Length / 2} bytes)";
}

/// <summary>JSON reading and writing helpers (bytes as lowercase hex, 64-bit integers as decimal strings).</summary>
internal static class J
{
    public static byte[] Hex(this JsonElement e, string name) => Convert.FromHexString(e.GetProperty(name).GetString()!);
    public static string Str(this JsonElement e, string name) => e.GetProperty(name).GetString()!;
    public static int Int(this JsonElement e, string name) => e.GetProperty(name).GetInt32();
    public static ulong U64(this JsonElement e, string name) => ulong.Parse(e.GetProperty(name).GetString()!, CultureInfo.InvariantCulture);
    public static ulong[] U64s(this JsonElement e, string name) =>
        e.GetProperty(name).EnumerateArray().Select(x => ulong.Parse(x.GetString()!, CultureInfo.InvariantCulture)).ToArray();
    public static int[] Ints(this JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(x => x.GetInt32()).ToArray();
    public static JsonElement[] Arr(this JsonElement e, string name) => e.GetProperty(name).EnumerateArray().ToArray();

    public static string H(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);
    public static string D(ulong v) => v.ToString(CultureInfo.InvariantCulture);
    public static JsonArray DArray(IEnumerable<ulong> values) => new(values.Select(v => (JsonNode)JsonValue.Create(D(v))).ToArray());
    public static JsonArray IArray(IEnumerable<int> values) => new(values.Select(v => (JsonNode)JsonValue.Create(v)).ToArray());
    public static JsonArray Array(IEnumerable<JsonNode> nodes) => new(nodes.ToArray());

    /// <summary>SHA-256 of values written as consecutive little-endian u64 words.</summary>
    public static byte[] Sha256OfWords(ReadOnlySpan<ulong> values)
    {
        var bytes = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8 * i), values[i]);
        return System.Security.Cryptography.SHA256.HashData(bytes);
    }
}
