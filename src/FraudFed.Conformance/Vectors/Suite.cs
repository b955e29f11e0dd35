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
        new HeWireVectors(), new MaskingWireVectors(), new TrainingWireVectors(), new ServiceWireVectors(), new BulkFrameVectors(),
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
            return [new CheckCase("parse", () => throw new ConformanceException("not valid JSON: " + JsonPosition(e)))];
        }
        var cases = new List<CheckCase> { new("description", () => CheckDescription(root)) };
        IVectorFile? checker = Find(relativePath);
        if (checker is null)
        {
            cases.Add(new CheckCase("consumed", () => throw new ConformanceException("no conformance check consumes this file (orphan)")));
            return cases;
        }
        if (root.ValueKind == JsonValueKind.Object)
        {
            if (UnknownFields(checker, root) is { Count: > 0 } unknown)
                cases.Add(new CheckCase("known-fields", () => throw new ConformanceException(
                    $"{unknown.Count} field(s) the suite does not know: {string.Join(", ", unknown.Take(8))}{(unknown.Count > 8 ? $" and {unknown.Count - 8} more" : "")} " +
                    "(a vector file holds only the fields its check reads; a misspelt field would otherwise be ignored)")));
            if (Duplicates(root) is { Count: > 0 } duplicates)
                cases.Add(new CheckCase("unique-cases", () => throw new ConformanceException(
                    $"{duplicates.Count} duplicated case(s): {string.Join(", ", duplicates.Take(8))}{(duplicates.Count > 8 ? $" and {duplicates.Count - 8} more" : "")} " +
                    "(each case appears once)")));
        }
        List<string> mismatches = checker.Generated && root.ValueKind == JsonValueKind.Object ? KindMismatches(checker, root) : [];
        List<CheckCase> own;
        string text = File.ReadAllText(full).ToLowerInvariant();
        try { own = checker.Cases(root).Select(c => Named(c, mismatches)).Select(c => InFile(c, text)).ToList(); }
        catch (Exception e)
        {
            cases.Add(new CheckCase("structure", () => throw new ConformanceException("cannot enumerate cases: " + (mismatches.Count > 0 && e is not ConformanceException ? Joined(mismatches) : Plain(e)))));
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

    /// <summary>A case whose failure other than a disagreement (a field of the wrong JSON kind) names the fields of the
    /// wrong kind by JSON path, when the file has any.</summary>
    private static CheckCase Named(CheckCase c, List<string> mismatches) =>
        mismatches.Count == 0 ? c : new CheckCase(c.Name, () =>
        {
            try { c.Run(); }
            catch (Exception e) when (e is not ConformanceException && e is InvalidOperationException or FormatException or KeyNotFoundException or OverflowException)
            {
                throw new ConformanceException(Joined(mismatches));
            }
        });

    /// <summary>The case, run with <see cref="Expect.FileText"/> set to its file's text (lowercase), so that a mismatch can say
    /// which value is the file's.</summary>
    private static CheckCase InFile(CheckCase c, string text) => new(c.Name, () =>
    {
        string? outer = Expect.FileText;
        Expect.FileText = text;
        try { c.Run(); }
        finally { Expect.FileText = outer; }
    });

    private static string Joined(List<string> mismatches) =>
        string.Join("; ", mismatches.Take(4)) + (mismatches.Count > 4 ? $" and {mismatches.Count - 4} more" : "");

    /// <summary>An invalid-JSON error as "line L, column C: reason" (both 1-based), without the parser's position suffix.</summary>
    internal static string JsonPosition(JsonException e)
    {
        string reason = e.Message;
        int cut = reason.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut < 0) cut = reason.IndexOf(" Path:", StringComparison.Ordinal);
        if (cut > 0) reason = reason[..cut];
        reason = reason.TrimEnd('.', ' ');
        return e.LineNumber is long line && e.BytePositionInLine is long column
            ? $"line {line + 1}, column {column + 1}: {reason}"
            : reason;
    }

    /// <summary>Every value of <paramref name="root"/> whose JSON kind differs from the value at the same place of the freshly
    /// generated file, as "sets[0].insecure must be true or false, found a number" (arrays compared element-wise, an element
    /// beyond the generated array's end against its last element).</summary>
    internal static List<string> KindMismatches(IVectorFile checker, JsonElement root)
    {
        var found = new List<string>();
        using var doc = JsonDocument.Parse(GeneratedText(checker));
        Walk(root, doc.RootElement, "");
        return found;

        void Walk(JsonElement file, JsonElement expected, string path)
        {
            if (Kind(file.ValueKind) != Kind(expected.ValueKind))
            {
                found.Add($"{(path.Length == 0 ? "the top level" : path)} must be {KindWords(expected.ValueKind)}, found {KindWords(file.ValueKind)}");
                return;
            }
            if (file.ValueKind == JsonValueKind.Object)
            {
                foreach (JsonProperty p in file.EnumerateObject())
                    if (expected.TryGetProperty(p.Name, out JsonElement e)) Walk(p.Value, e, path.Length == 0 ? p.Name : path + "." + p.Name);
            }
            else if (file.ValueKind == JsonValueKind.Array && expected.GetArrayLength() > 0)
            {
                int i = 0, last = expected.GetArrayLength() - 1;
                foreach (JsonElement x in file.EnumerateArray()) { Walk(x, expected[Math.Min(i, last)], $"{path}[{i}]"); i++; }
            }
        }

        static JsonValueKind Kind(JsonValueKind k) => k == JsonValueKind.False ? JsonValueKind.True : k;
    }

    private static string KindWords(JsonValueKind k) => k switch
    {
        JsonValueKind.True or JsonValueKind.False => "true or false",
        JsonValueKind.Number => "a number",
        JsonValueKind.String => "a string",
        JsonValueKind.Array => "a list",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    /// <summary>Shortest accepted description, in characters (after trimming).</summary>
    internal const int MinDescriptionLength = 20;

    /// <summary>The top-level "description": present, a string, and at least <see cref="MinDescriptionLength"/> characters.</summary>
    private static void CheckDescription(JsonElement root)
    {
        const string Rule = "a top-level \"description\" string of at least 20 characters saying what the file pins and where it comes from";
        if (root.ValueKind != JsonValueKind.Object) throw new ConformanceException($"the file is a JSON {root.ValueKind.ToString().ToLowerInvariant()}, not an object: it needs {Rule}");
        if (!root.TryGetProperty("description", out JsonElement d)) throw new ConformanceException($"the file has no \"description\": it needs {Rule}");
        if (d.ValueKind != JsonValueKind.String) throw new ConformanceException($"\"description\" is a JSON {d.ValueKind.ToString().ToLowerInvariant()}: it must be {Rule}");
        int length = d.GetString()!.Trim().Length;
        if (length < MinDescriptionLength)
            throw new ConformanceException($"\"description\" is too short ({length} characters): it must be {Rule}");
    }

    /// <summary>
    /// The fields each object of an RFC/NIST file may hold, by JSON path ("$" the root, "[]" any array element).
    /// </summary>
    private static readonly IReadOnlyDictionary<string, IReadOnlyDictionary<string, string[]>> PinnedFields = new Dictionary<string, IReadOnlyDictionary<string, string[]>>(StringComparer.Ordinal)
    {
        ["x25519/rfc7748.json"] = new Dictionary<string, string[]>
        {
            ["$"] = ["description", "diffie_hellman", "scalar_mult"],
            ["$.diffie_hellman[]"] = ["alice_private", "alice_public", "bob_private", "bob_public", "description", "shared"],
            ["$.scalar_mult[]"] = ["description", "output", "scalar", "u"],
        },
        ["ed25519/rfc8032.json"] = new Dictionary<string, string[]> { ["$"] = ["cases", "description"], ["$.cases[]"] = ["description", "message", "private", "public", "signature"] },
        ["hkdf/rfc5869.json"] = new Dictionary<string, string[]> { ["$"] = ["cases", "description"], ["$.cases[]"] = ["description", "ikm", "info", "length", "okm", "prk", "salt"] },
        ["prg/sp800-38a.json"] = new Dictionary<string, string[]> { ["$"] = ["cases", "description"], ["$.cases[]"] = ["ciphertext", "description", "initial_counter", "key", "plaintext"] },
    };

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<string>> GeneratedTexts = new(StringComparer.Ordinal);

    /// <summary>The freshly generated content of a generated file, serialized (computed once per process).</summary>
    private static string GeneratedText(IVectorFile checker) =>
        GeneratedTexts.GetOrAdd(checker.Path, _ => new Lazy<string>(() => Serialize(checker.Generate()))).Value;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<Dictionary<string, HashSet<string>>>> GeneratedFields = new(StringComparer.Ordinal);

    /// <summary>The fields each object path of a complete file of <paramref name="checker"/> may hold: for a generated file, the
    /// union of the fields of its freshly generated content at each path; for an RFC/NIST file, the pinned ones.</summary>
    private static IReadOnlyDictionary<string, HashSet<string>> KnownFields(IVectorFile checker)
    {
        if (!checker.Generated)
            return PinnedFields.TryGetValue(checker.Path, out var pinned)
                ? pinned.ToDictionary(kv => kv.Key, kv => kv.Value.ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal)
                : new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        return GeneratedFields.GetOrAdd(checker.Path, _ => new Lazy<Dictionary<string, HashSet<string>>>(() =>
        {
            var fields = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            using var doc = JsonDocument.Parse(GeneratedText(checker));
            Collect(doc.RootElement, "$", fields);
            return fields;
        })).Value;

        static void Collect(JsonElement e, string path, Dictionary<string, HashSet<string>> fields)
        {
            if (e.ValueKind == JsonValueKind.Object)
            {
                if (!fields.TryGetValue(path, out HashSet<string>? set)) fields[path] = set = new HashSet<string>(StringComparer.Ordinal);
                foreach (JsonProperty p in e.EnumerateObject())
                {
                    set.Add(p.Name);
                    Collect(p.Value, path + "." + p.Name, fields);
                }
            }
            else if (e.ValueKind == JsonValueKind.Array)
                foreach (JsonElement x in e.EnumerateArray()) Collect(x, path + "[]", fields);
        }
    }

    /// <summary>Every field of <paramref name="root"/> that no complete file of <paramref name="checker"/> holds at its place, as
    /// "name" at a readable location (e.g. <c>"outptu" in scalar_mult[1]</c>).</summary>
    internal static List<string> UnknownFields(IVectorFile checker, JsonElement root)
    {
        IReadOnlyDictionary<string, HashSet<string>> known = KnownFields(checker);
        var unknown = new List<string>();
        Walk(root, "$", "the top level");
        return unknown;

        void Walk(JsonElement e, string path, string where)
        {
            if (e.ValueKind == JsonValueKind.Object)
            {
                known.TryGetValue(path, out HashSet<string>? allowed);
                foreach (JsonProperty p in e.EnumerateObject())
                {
                    if (allowed is not null && !allowed.Contains(p.Name)) { unknown.Add($"\"{p.Name}\" in {where}"); continue; }
                    Walk(p.Value, path + "." + p.Name, where == "the top level" ? p.Name : where + "." + p.Name);
                }
            }
            else if (e.ValueKind == JsonValueKind.Array)
            {
                int i = 0;
                foreach (JsonElement x in e.EnumerateArray()) Walk(x, path + "[]", $"{where}[{i++}]{NameOf(x)}");
            }
        }
    }

    private static string NameOf(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("name", out JsonElement n) && n.ValueKind == JsonValueKind.String ? $" (\"{n.GetString()}\")" : "";

    /// <summary>Cases given twice in a top-level list: two objects with the same "name", or (for lists without names) the
    /// same object twice, as <c>cases[3] "vector-1" (also cases[0])</c>.</summary>
    internal static List<string> Duplicates(JsonElement root)
    {
        var duplicates = new List<string>();
        foreach (JsonProperty list in root.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Array))
        {
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            int i = 0;
            foreach (JsonElement x in list.Value.EnumerateArray())
            {
                if (x.ValueKind == JsonValueKind.Object)
                {
                    bool named = x.TryGetProperty("name", out JsonElement n) && n.ValueKind == JsonValueKind.String;
                    string key = named ? "name:" + n.GetString() : "text:" + x.GetRawText();
                    if (seen.TryGetValue(key, out int first))
                        duplicates.Add(named ? $"{list.Name}[{i}] \"{n.GetString()}\" (also {list.Name}[{first}])" : $"{list.Name}[{i}] (the same as {list.Name}[{first}])");
                    else seen[key] = i;
                }
                i++;
            }
        }
        return duplicates;
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
            using var doc = JsonDocument.Parse(GeneratedText(checker));
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

    /// <summary>The vector files copied from RFCs and NIST (never generated), '/'-separated paths in registry order.</summary>
    public static IReadOnlyList<string> KnownAnswerFiles { get; } = Files.Where(f => !f.Generated).Select(f => f.Path).ToArray();

    /// <summary>
    /// Copies the RFC/NIST files (<see cref="KnownAnswerFiles"/>) from <paramref name="source"/> (a repository's
    /// protocols/vectors) to <paramref name="directory"/>, each through a temporary file renamed into place. Nothing is copied
    /// when the two are the same directory.
    /// </summary>
    /// <returns>The relative paths copied.</returns>
    /// <exception cref="FileNotFoundException">a known-answer file is missing from <paramref name="source"/>.</exception>
    public static IReadOnlyList<string> CopyKnownAnswers(string source, string directory)
    {
        if (string.Equals(System.IO.Path.GetFullPath(source).TrimEnd(System.IO.Path.DirectorySeparatorChar),
                System.IO.Path.GetFullPath(directory).TrimEnd(System.IO.Path.DirectorySeparatorChar), StringComparison.Ordinal)) return [];
        foreach (string path in KnownAnswerFiles)
            if (!File.Exists(System.IO.Path.Combine(source, path))) throw new FileNotFoundException($"{System.IO.Path.Combine(source, path)} is missing.");
        foreach (string path in KnownAnswerFiles)
        {
            string full = System.IO.Path.Combine(directory, path);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
            string temp = full + ".tmp-" + Environment.ProcessId;
            File.Copy(System.IO.Path.Combine(source, path), temp, overwrite: true);
            File.Move(temp, full, overwrite: true);
        }
        return KnownAnswerFiles;
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

    /// <summary>The text (lowercase) of the vector file whose case is running on this thread, or null.</summary>
    [ThreadStatic] internal static string? FileText;

    /// <summary>True when <paramref name="expected"/> is written in the running case's file (a hex or text value of at least 8
    /// characters, so not a coincidence): a mismatch then says "file says X, recomputed Y", else "expected X (the reference),
    /// recomputed Y". The second value is always what the library recomputed.</summary>
    private static bool InTheFile(string expected) => expected.Length >= 8 && FileText?.Contains(expected.ToLowerInvariant(), StringComparison.Ordinal) == true;

    private static string Source(bool fromFile) => fromFile ? "file says" : "expected";

    public static void Equal<T>(string what, T expected, T actual)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual))
            throw new ConformanceException($"{what}: {Source(expected is string e && InTheFile(e))} {expected}, recomputed {actual}");
    }

    public static void Hex(string what, string expectedHex, ReadOnlySpan<byte> actual)
    {
        string a = Convert.ToHexStringLower(actual);
        if (!string.Equals(a, expectedHex, StringComparison.OrdinalIgnoreCase))
            throw new ConformanceException($"{what}: {HexDifference(expectedHex.ToLowerInvariant(), a, rule: null, InTheFile(expectedHex))}");
    }

    /// <summary>The file's value <paramref name="fileHex"/> against the value <paramref name="rule"/> recomputes (e.g. "SPEC's
    /// rule", "the replay"): the message says "the file has ..., {rule} gives ..." (the file is what is checked).</summary>
    public static void FileHex(string what, string fileHex, ReadOnlySpan<byte> recomputed, string rule)
    {
        string a = Convert.ToHexStringLower(recomputed);
        if (!string.Equals(a, fileHex, StringComparison.OrdinalIgnoreCase))
            throw new ConformanceException($"{what}: {HexDifference(a, fileHex.ToLowerInvariant(), rule)}");
    }

    /// <summary>Where two hex strings first differ: the byte offset and the bytes around it in both (a window of up to 8 bytes
    /// either side, the differing byte in brackets), so that two values with equal ends are told apart.
    /// <paramref name="actualHex"/> is what the library recomputed; <paramref name="expectedHex"/> is the file's value when
    /// <paramref name="fromFile"/> ("file says E, recomputed A"), else the reference's ("expected E, recomputed A").</summary>
    internal static string HexDifference(string expectedHex, string actualHex, bool fromFile = false) => HexDifference(expectedHex, actualHex, rule: null, fromFile);

    /// <summary><see cref="HexDifference(string, string, bool)"/>; with a <paramref name="rule"/>, <paramref name="actualHex"/> is the
    /// file's value and <paramref name="expectedHex"/> the rule's: "the file has A, {rule} gives E".</summary>
    internal static string HexDifference(string expectedHex, string actualHex, string? rule, bool fromFile = false)
    {
        string Pair(string e, string a) => rule is null ? $"{Source(fromFile)} {e}, recomputed {a}" : $"the file has {a}, {rule} gives {e}";
        if (expectedHex.Length <= 72 && actualHex.Length <= 72 && expectedHex.Length % 2 == 0)
            return $"{Pair(expectedHex, actualHex)}{FirstAt(expectedHex, actualHex)}";
        int bytesE = expectedHex.Length / 2, bytesA = actualHex.Length / 2;
        int at = 0;
        while (at < bytesE && at < bytesA && string.CompareOrdinal(expectedHex, 2 * at, actualHex, 2 * at, 2) == 0) at++;
        int from = Math.Max(0, at - 8);
        string sizes = rule is null ? $"{Source(fromFile)} {bytesE} bytes, recomputed {bytesA}" : $"the file {bytesA} bytes, {rule} {bytesE}";
        return $"first difference at byte {at} ({sizes}): {Pair(Window(expectedHex, from, at), Window(actualHex, from, at))}";
    }

    private static string FirstAt(string e, string a)
    {
        int at = 0;
        while (2 * at + 2 <= e.Length && 2 * at + 2 <= a.Length && string.CompareOrdinal(e, 2 * at, a, 2 * at, 2) == 0) at++;
        return $" (first difference at byte {at})";
    }

    /// <summary>Bytes [from, at + 8] of <paramref name="hex"/>, the byte at <paramref name="at"/> in brackets, "..." where cut.</summary>
    private static string Window(string hex, int from, int at)
    {
        int bytes = hex.Length / 2, to = Math.Min(bytes, at + 9);
        if (at >= bytes) return (from > 0 ? "..." : "") + hex[(2 * from)..(2 * bytes)] + "[end]";
        return (from > 0 ? "..." : "") + hex[(2 * from)..(2 * at)] + "[" + hex.Substring(2 * at, 2) + "]" + hex[(2 * at + 2)..(2 * to)] + (to < bytes ? "..." : "");
    }

    public static void Values(string what, IReadOnlyList<ulong> expected, ReadOnlySpan<ulong> actual)
    {
        if (expected.Count != actual.Length) throw new ConformanceException($"{what}: expected {expected.Count} values, recomputed {actual.Length}");
        for (int i = 0; i < expected.Count; i++)
            if (expected[i] != actual[i]) throw new ConformanceException($"{what}: value {i}: expected {expected[i]}, recomputed {actual[i]}");
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
