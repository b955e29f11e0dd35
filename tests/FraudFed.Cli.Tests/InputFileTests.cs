// What an error line shows of a file or an option it quotes, and the input files refused up front (a user trial of
// `fraudfed simulate`): control characters from a CSV header or an option value are shown escaped, never sent to the
// terminal (a header "\x1b]0;pwned\x07..." retitled the window), long values are cut, and a compressed, binary or
// non-UTF-8 file given as a CSV file is named for what it is before any work (exit 2), not read as mojibake; a CSV file
// from a pipe (read twice: the header, then the rows) is refused, asking for a file, while a file read once may be a pipe.
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using FraudFed.Cli.Infrastructure;
using NUnit.Framework;

namespace FraudFed.Cli.Tests;

[TestFixture]
public sealed class InputFileTests
{
    private string _dir = "";
    private string _out = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "fraudfed-input-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _out = Path.Combine(_dir, "out");
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string Write(string name, string text) => Write(name, Encoding.UTF8.GetBytes(text));

    /// <summary>The one line of a refused run: exit 2, one line on stderr that holds no control character, nothing on stdout,
    /// nothing written.</summary>
    private string RefusedLine(params string[] args)
    {
        var (code, stdout, stderr) = HostileInputTests.Run(args);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stdout, Is.Empty);
        Assert.That(stderr, Does.EndWith(Environment.NewLine));
        string line = stderr[..^Environment.NewLine.Length];
        Assert.That(line.Where(char.IsControl).Select(c => (int)c), Is.Empty, "no control character reaches the terminal: " + line);
        Assert.That(Directory.Exists(_out), Is.False, "nothing written");
        return line;
    }

    [Test]
    public void AHeaderWithTerminalControls_IsShownEscaped()
    {
        string csv = Write("hostile.csv", "\u001b]0;pwned\u0007\u001b[31mRED,b\n1,2\n");
        string line = RefusedLine("simulate", "--csv", csv, "--label", "x", "--out", _out);
        Assert.That(line, Does.StartWith("fraudfed simulate: "));
        // The name cannot be typed as a column: its hidden character is named by position, the name shown escaped.
        Assert.That(line, Does.Contain(@"column 1 of the header, '\x1b]0', holds a control character (U+001B, character 1 of the name)"), line);
    }

    /// <summary>A header name with a control or invisible character was read as a column name and reached model.txt (LightGBM's
    /// feature names) and the reports (a user trial; "card_id\x1b[31m" also slipped past the identifier check): it is refused
    /// before any work, for --csv and a bank's --data alike, naming the column by its position and showing the name escaped.</summary>
    [Test]
    public void AHeaderNameWithAControlOrInvisibleCharacter_IsRefusedBeforeAnyWork_NamingItsPosition()
    {
        var rows = new StringBuilder();
        for (int i = 0; i < 2_000; i++) rows.Append($"{i},{i % 13},{i % 7},{(i % 20 == 0 ? 1 : 0)}\n");
        string csv = Write("hostile.csv", "t,card_id\u001b[31m,amount,label\n" + rows);
        Assert.That(RefusedLine("simulate", "--transport", "inproc", "--csv", csv, "--label", "label", "--time", "t", "--out", _out),
            Is.EqualTo($"fraudfed simulate: {csv}: column 2 of the header, 'card_id\\x1b[31m', holds a control character (U+001B, character 8 of the name), " +
                "which would reach the model's feature names and the reports: rename the column in the header to visible characters only."));
        string bidi = Write("bidi.csv", "t,amount,x\u200b,label\n" + rows);
        Assert.That(RefusedLine("bank", "train", "--config", Path.Combine(_dir, "no-bank.json"), "--data", bidi, "--label", "label", "--out", _out),
            Is.EqualTo($"fraudfed bank train: {bidi}: column 3 of the header, 'x\\u200b', holds an invisible formatting character (U+200B, character 2 of the name), " +
                "which would reach the model's feature names and the reports: rename the column in the header to visible characters only."));
        string unnamed = Write("unnamed.csv", ",t,amount,label\n" + string.Concat(rows.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(r => "7," + r + "\n")));
        Assert.That(RefusedLine("simulate", "--transport", "inproc", "--csv", unnamed, "--label", "label", "--time", "t", "--out", _out),
            Does.StartWith($"fraudfed simulate: {unnamed}: column 1 of the header has no name (its header cell is empty or blank; an unnamed first column is often a row index"));
    }

    [Test]
    public void AnOptionValueWithControls_IsShownEscaped()
    {
        string csv = Write("plain.csv", "a,b\n1,2\n");
        string line = RefusedLine("simulate", "--csv", csv, "--label", "Class\u001b[2J\u009b\u202e", "--out", _out);
        Assert.That(line, Does.Contain(@"label column 'Class\x1b[2J\x9b\u202e' is not in the header (columns: a, b)"), line);
    }

    [Test]
    public void ALongHeader_IsCut_AndTheMessageKeepsItsEnd()
    {
        string longName = new string('v', 50_000);
        string csv = Write("wide.csv", $"{longName},{string.Join(" ", Enumerable.Repeat("w", 5_000))},b\n1,2,3\n");
        string line = RefusedLine("simulate", "--csv", csv, "--label", "Class", "--out", _out);
        Assert.That(line.Length, Is.LessThanOrEqualTo(ErrorLine.MaxLine + 40), "cut: " + line.Length);
        Assert.That(line, Does.StartWith("fraudfed simulate: ").And.Contain("label column 'Class' is not in the header (columns: vvvv"));
        // Each name in the list is cut to its first 40 characters, with its length.
        Assert.That(line, Does.Contain("(columns: " + new string('v', 40) + "... (50000 characters), w w w").And.Not.Contain(new string('v', 41)));
        Assert.That(line, Does.EndWith("... (9999 characters), b)."), "the end of the message is kept");
        Assert.That(line, Does.Not.Contain("unclosed quote"), "a long name without a line break is not taken for an unclosed quote");
    }

    [Test]
    public void ErrorLine_EscapesControlAndFormattingCharacters_AndKeepsEveryOtherCharacter()
    {
        Assert.That(ErrorLine.Of("tab\there, bell\u0007, del\u007f, nel\u0085, rlo\u202e, bom\ufeff, lone\ud800 end"),
            Is.EqualTo(@"tab\there, bell\x07, del\x7f, nel\x85, rlo\u202e, bom\ufeff, lone\ud800 end"));
        Assert.That(ErrorLine.Of("café, Zürich, 東京, 💳 and a tag \U000E0041."), Is.EqualTo(@"café, Zürich, 東京, 💳 and a tag \U000e0041."));
        Assert.That(ErrorLine.Of("first line\r\nsecond line\nthird"), Is.EqualTo("first line second line third"), "a message's own lines are joined");
        string bells = ErrorLine.Of(new string('\u0007', 1000));
        Assert.That(bells, Has.Length.EqualTo(ErrorLine.WordHead + 3 + ErrorLine.WordTail), "cut to its head and tail");
        Assert.That(bells, Does.StartWith(@"\x07\x07").And.EndWith(@"\x07\x07"), bells);
        Assert.That(bells.Replace("...", "", StringComparison.Ordinal).Replace(@"\x07", "", StringComparison.Ordinal), Is.Empty, "an escape is never cut in two");
        string path = "/data/" + new string('d', 400) + "/creditcard.csv";
        Assert.That(ErrorLine.Of($"--csv '{path}' does not exist."), Does.EndWith("/creditcard.csv' does not exist."), "a long path keeps its file name");
    }

    [Test]
    public void AGzippedCsv_IsRefusedBeforeAnyWork_NamingWhatItIs()
    {
        using var packed = new MemoryStream();
        using (var gzip = new GZipStream(packed, CompressionLevel.Fastest, leaveOpen: true))
            gzip.Write(Encoding.UTF8.GetBytes("Time,V1,Amount,Class\n0,1.5,10,0\n"));
        string csv = Write("creditcard.csv.gz", packed.ToArray());
        Assert.That(RefusedLine("simulate", "--csv", csv, "--schema", "ulb", "--out", _out),
            Is.EqualTo($"fraudfed simulate: --csv '{csv}' is not a text CSV file (it starts like a gzip file: decompress it first)."));
        // The same check for a bank's own file, before bank.json is read.
        Assert.That(RefusedLine("bank", "train", "--config", Path.Combine(_dir, "no-bank.json"), "--data", csv, "--schema", "ulb", "--out", _out),
            Is.EqualTo($"fraudfed bank train: --data '{csv}' is not a text CSV file (it starts like a gzip file: decompress it first)."));
    }

    [Test]
    public void AZipArchive_ARandomFile_UnicodeText_AndLatin1_AreRefused_NamingWhatEachIs()
    {
        string zip = Path.Combine(_dir, "data.zip");
        using (ZipArchive archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        using (var entry = new StreamWriter(archive.CreateEntry("data.csv").Open()))
            entry.Write("a,label\n1,0\n");
        Assert.That(RefusedLine("simulate", "--csv", zip, "--label", "label", "--out", _out), Does.EndWith("is not a text CSV file (it starts like a zip file, as an .xlsx workbook does: extract the CSV file, or save the sheet as CSV, first)."));

        byte[] noise = new byte[4096];
        new Random(7).NextBytes(noise);
        noise[0] = (byte)'a';
        string random = Write("noise.csv", noise);
        Assert.That(RefusedLine("simulate", "--csv", random, "--label", "label", "--out", _out), Does.Match("is not a text CSV file \\((byte \\d+ is a NUL byte, which no text holds: it looks like a binary file|byte \\d+, on line \\d+, is not UTF-8; .*)\\)\\.$"));

        string utf16 = Write("utf16.csv", Encoding.Unicode.GetBytes("a,label\n1,0\n"));
        Assert.That(RefusedLine("simulate", "--csv", utf16, "--label", "label", "--out", _out), Does.EndWith("(it looks like UTF-16 text, every other byte a NUL: save it as UTF-8)."));

        string latin1 = Write("latin1.csv", Encoding.Latin1.GetBytes("merchant,label\ncafé,0\n"));
        Assert.That(RefusedLine("simulate", "--csv", latin1, "--label", "label", "--out", _out),
            Does.EndWith("(byte 19, on line 2, is not UTF-8; the file is probably in a legacy encoding such as Windows-1252 or Latin-1: save it as UTF-8 (iconv -f WINDOWS-1252 -t UTF-8 converts a Windows-1252 file))."));
    }

    [Test]
    public void TextThatStartsLikeASignature_OrEndsInTheMiddleOfTheProbe_IsText()
    {
        Assert.That(CsvInput.NotText("PAR1,PAR2,label\n1,2,0\n"u8, whole: true), Is.Null, "a header may start like Parquet's signature");
        Assert.That(CsvInput.NotText("\ufeffa,b\ncafé,東京\n"u8, whole: true), Is.Null, "UTF-8 with a byte order mark");
        foreach (Encoding unicode in new[] { Encoding.Unicode, Encoding.BigEndianUnicode, Encoding.UTF32 })
            Assert.That(CsvInput.NotText([.. unicode.GetPreamble(), .. unicode.GetBytes("a,b\n1,2\n")], whole: true), Is.Null, "UTF-16 or UTF-32 with its byte order mark is read as such");
        byte[] cut = Encoding.UTF8.GetBytes("a,b\n東");
        Assert.That(CsvInput.NotText(cut.AsSpan(0, cut.Length - 1), whole: false), Is.Null, "a character cut at the end of the probe, not of the file");
        Assert.That(CsvInput.NotText(cut.AsSpan(0, cut.Length - 1), whole: true), Does.StartWith("byte 5, on line 2, is not UTF-8"));
        Assert.That(CsvInput.NotText("a,b\n1,\0\n"u8, whole: true), Does.StartWith("byte 7 is a NUL byte"));
    }

    /// <summary>Runs the real `fraudfed` (<paramref name="shell"/>: a bash command line, where $0 is fraudfed.dll and $1.. are
    /// <paramref name="args"/>), with <paramref name="stdin"/> piped in; returns the exit code and stderr.</summary>
    private static (int Code, string Stderr) RunReal(string shell, string? stdin, params string[] args)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = stdin is not null };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(shell);
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "fraudfed.dll"));
        foreach (string a in args) start.ArgumentList.Add(a);
        using Process p = Process.Start(start)!;
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        Assert.That(p.WaitForExit(120_000), Is.True, "the command ends");
        Assert.That(stdout.Result, Is.Empty);
        return (p.ExitCode, stderr);
    }

    /// <summary>A CSV file given as a pipe was read twice (its header, then its rows from wherever the header's read stopped)
    /// and refused for a "header" from the middle of the data: a pipe is refused before any work, asking for a file.</summary>
    [Test]
    [Platform(Include = "Linux")]
    public void ACsvFromAPipe_IsRefusedBeforeAnyWork_AskingForAFile()
    {
        string rows = "a,label\n" + string.Concat(Enumerable.Range(0, 2_000).Select(i => $"{i},{i % 2}\n"));
        string csv = Write("data.csv", rows);
        const string Fix = "is not a regular file but a pipe or a terminal, which can be read only once, and the CSV file is read twice " +
            "(its header before any work, then its rows): save it to a file first and give that file.";

        var (code, stderr) = RunReal("exec dotnet \"$0\" simulate --csv <(cat \"$1\") --label label --out \"$2\"", null, csv, _out);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr.TrimEnd(), Does.Match(@"^fraudfed simulate: --csv '/dev/fd/\d+' ").And.EndWith(Fix), stderr);

        (code, stderr) = RunReal("exec dotnet \"$0\" simulate --csv /dev/stdin --label label --out \"$1\"", rows, _out);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr.TrimEnd(), Is.EqualTo("fraudfed simulate: --csv '/dev/stdin' " + Fix), stderr);

        (code, stderr) = RunReal("exec dotnet \"$0\" bank train --config \"$1\" --data /dev/stdin --label label --out \"$2\"", rows, Path.Combine(_dir, "no-bank.json"), _out);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr.TrimEnd(), Is.EqualTo("fraudfed bank train: --data '/dev/stdin' " + Fix), stderr);
        Assert.That(Directory.Exists(_out), Is.False, "nothing written");
    }

    /// <summary>A named FIFO as --csv: opening one that no process writes blocks, so it was never refused and `simulate` hung
    /// (trial19b). It is refused before anything opens it, with the pipe's message (the run is killed after 60 s otherwise).</summary>
    [Test]
    [Platform(Include = "Linux")]
    public void ANamedFifoWithoutAWriter_IsRefusedAtOnce()
    {
        string fifo = Path.Combine(_dir, "rows.fifo");
        using (Process mk = Process.Start("mkfifo", [fifo])!) { mk.WaitForExit(); Assert.That(mk.ExitCode, Is.Zero); }
        var (code, stderr) = RunReal("exec timeout -s KILL 60 dotnet \"$0\" simulate --csv \"$1\" --label label --out \"$2\"", null, fifo, _out);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr.TrimEnd(), Is.EqualTo($"fraudfed simulate: --csv '{fifo}' is not a regular file but a pipe or a terminal, which can be read only once, " +
            "and the CSV file is read twice (its header before any work, then its rows): save it to a file first and give that file."), stderr);
        Assert.That(Directory.Exists(_out), Is.False, "nothing written");
    }

    /// <summary>A file read once may come from a pipe: the schema of --csv is read from standard input (its label, absent
    /// from the file's header, is what the refusal names).</summary>
    [Test]
    [Platform(Include = "Linux")]
    public void ASchemaFromAPipe_IsRead()
    {
        string csv = Write("data.csv", "a,b\n1,0\n");
        var (code, stderr) = RunReal("exec dotnet \"$0\" simulate --csv \"$1\" --schema /dev/stdin --out \"$2\"", """{ "label": "from_the_pipe" }""", csv, _out);
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr, Does.Contain("label column 'from_the_pipe' is not in the header (columns: a, b)."), stderr);
    }
}
