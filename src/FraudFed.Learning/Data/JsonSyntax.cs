// The one wording of a JSON file that does not parse (aggregator.json, bank.json, a --schema file): "FILE is not valid JSON at
// line 3, column 1: the file ends before every { or [ is closed (is it cut short?)". Line and column are 1-based (the reader
// counts from 0), the column counted in characters as an editor shows it (the reader counts bytes: with the file's text the
// bytes are turned into characters); the same "line L, column C" as a JSON value of the wrong kind (ConfigJson). The reason is said in our words for the mistakes people make by hand or by a
// copy cut short, and otherwise is the reader's sentence without its position suffix and any .NET type name.
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FraudFed.Learning.Data;

/// <summary>A JSON syntax error in words.</summary>
internal static class JsonSyntax
{
    /// <summary>"is not valid JSON at line L, column C: reason" for <paramref name="error"/> (the position left out when the reader
    /// gave none); the caller puts the file name in front. With the file's <paramref name="text"/>, an error on its last line
    /// of a text that does not end with } or ] is said as a file cut short (the reader blames whatever token the cut left,
    /// such as "'0' is an invalid end of a number").</summary>
    public static string NotValid(JsonException error, string? text = null)
    {
        ArgumentNullException.ThrowIfNull(error);
        string where = Position(error, text) is { } position ? " at " + position : "";
        string reason = Reason(error.Message);
        if (text is not null && error.LineNumber is long at && error.BytePositionInLine is long by && CutShort(text, at, by)
            && !reason.Contains("cut short", StringComparison.Ordinal))
            reason = "the file ends in the middle of the JSON (is it cut short?)";
        return $"is not valid JSON{where}: {reason}";
    }

    /// <summary>"line L, column C" (both 1-based) of the reader's position in <paramref name="error"/>, or null when it gave none.
    /// The reader counts the column in bytes from 0; with the file's <paramref name="text"/> it becomes the character column
    /// an editor shows (the same for ASCII text), else the byte column is given.</summary>
    public static string? Position(JsonException error, string? text)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error.LineNumber is not long line || error.BytePositionInLine is not long bytes) return null;
        long column = bytes;
        if (text is not null)
        {
            string[] lines = text.Split('\n');
            if (line < lines.Length)
            {
                byte[] utf8 = System.Text.Encoding.UTF8.GetBytes(lines[line]);
                if (bytes <= utf8.Length) column = System.Text.Encoding.UTF8.GetCharCount(utf8, 0, (int)bytes);
            }
        }
        return $"line {line + 1}, column {column + 1}";
    }

    /// <summary>The text stops without closing its top-level value, and the reader's error is at its last byte.</summary>
    private static bool CutShort(string text, long line, long bytePosition)
    {
        string trimmed = text.TrimEnd();
        if (trimmed.Length == 0 || trimmed[^1] is '}' or ']') return false;
        int lastLine = trimmed.Count(c => c == '\n');
        string last = trimmed[(trimmed.LastIndexOf('\n') + 1)..];
        return line >= lastLine && bytePosition >= System.Text.Encoding.UTF8.GetByteCount(last) - 1;
    }

    /// <summary>The reader's sentence in our words.</summary>
    internal static string Reason(string message)
    {
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        int position = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut < 0 || position >= 0 && position < cut) cut = position;
        string sentence = (cut > 0 ? message[..cut] : message).Trim();
        string? token = Regex.Match(sentence, "^'(?<t>[^']*)'").Groups["t"] is { Success: true } g ? g.Value : null;
        if (sentence.Contains("Expected depth to be zero at the end", StringComparison.Ordinal))
            return "the file ends before every { or [ is closed (is it cut short?)";
        if (sentence.Contains("does not contain any JSON tokens", StringComparison.Ordinal))
            return "the file is empty";
        if (sentence.Contains("reached end of data", StringComparison.Ordinal))
            return "the file ends in the middle of the JSON (is it cut short?)";
        if (sentence.Contains("trailing comma", StringComparison.Ordinal))
            return "a ',' stands before a closing } or ]; remove it";
        if (token is not null)
        {
            if (sentence.Contains("is an invalid start of a value", StringComparison.Ordinal))
                return $"'{token}' cannot start a value (text goes in double quotes; values are text, numbers, true, false, null, {{...}} or [...])";
            if (sentence.Contains("is invalid after a property name", StringComparison.Ordinal))
                return $"'{token}' follows a name where a ':' belongs";
            if (sentence.Contains("is an invalid start of a property name", StringComparison.Ordinal))
                return $"'{token}' stands where a name in double quotes (or a closing }}) belongs";
            if (sentence.Contains("is invalid after a value", StringComparison.Ordinal))
                return $"'{token}' follows a value where a ',' or a closing }} or ] belongs";
            if (sentence.Contains("is invalid after a single JSON value", StringComparison.Ordinal))
                return $"'{token}' follows the end of the file's object; the file holds one {{...}} only";
            if (sentence.Contains("is invalid without a matching open", StringComparison.Ordinal))
                return $"'{token}' closes nothing (no matching {{ or [ before it)";
            if (sentence.Contains("is invalid within a JSON string", StringComparison.Ordinal))
                return "a text value holds a control character such as a line break; write it as \\n or close the quotes";
            if (sentence.Contains("is an invalid JSON literal", StringComparison.Ordinal))
                return $"'{token}...' is not a value; text goes in double quotes (values are text, numbers, true, false, null)";
        }
        sentence = Regex.Replace(sentence, @"'?\b(?:FraudFed|System)\.[A-Za-z0-9_.`\[\]+,]*'?", "a value").TrimEnd('.', ' ');
        return sentence.Length == 0 ? "malformed" : sentence;
    }
}
