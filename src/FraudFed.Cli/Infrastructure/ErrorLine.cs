// What an error line shows of its message, whatever the message quotes: a CSV header or cell, a schema key, a path or an
// option value as the user gave them. Those are bytes from outside, and a terminal acts on some of them (ESC starts a
// sequence that can retitle the window, recolour or clear the screen, BEL rings): every control character (C0, DEL, C1)
// and every invisible formatting character (Unicode categories Cf, Zl, Zp: bidirectional overrides, zero-width spaces, a
// byte order mark) is shown escaped, \t for a tab, \x1b for ESC, \u202e for RIGHT-TO-LEFT OVERRIDE (\U0001xxxx beyond the
// BMP), a lone surrogate as its \uXXXX. Line breaks between the message's own lines become spaces (an error is one line);
// one inside a quoted value ('amo\nunt') is the value's and is shown \n or \r. ErrorLine.Value shows a path or name in any
// other line the CLI prints (wrote ..., read ..., data: ...) the same way.
// A long value is cut: a word (a run of characters between spaces) longer than MaxWord characters as shown keeps its first
// WordHead and last WordTail characters around "...", and a line still longer than MaxLine keeps its first LineHead and
// last LineTail characters around " ... ", cut at spaces, so that the fix at the end of a message stays on screen.
// CliErrors.Fail puts every error line of every command through here: the one path, so no message has to remember it.
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace FraudFed.Cli.Infrastructure;

/// <summary>The text of a one-line error as shown: control and formatting characters escaped, long values cut.</summary>
internal static class ErrorLine
{
    /// <summary>The longest word (characters between spaces, as shown) that is shown whole.</summary>
    internal const int MaxWord = 240;
    /// <summary>Characters kept from the start of a longer word.</summary>
    internal const int WordHead = 160;
    /// <summary>Characters kept from the end of a longer word (a path's file name).</summary>
    internal const int WordTail = 60;
    /// <summary>The longest line that is shown whole, in characters.</summary>
    internal const int MaxLine = 2000;
    /// <summary>Characters kept from the start of a longer line.</summary>
    internal const int LineHead = 1400;
    /// <summary>Characters kept from the end of a longer line (where a message says the fix).</summary>
    internal const int LineTail = 500;

    /// <summary>A quoted value (a single quote not after a letter or digit, as in 'amount' but not bank's, up to the next single
    /// quote; or double quotes) or a run of line breaks with the blanks around them.</summary>
    private static readonly Regex LineBreaks = new(@"(?<quoted>(?<![\p{L}\p{N}])'[^']*'|""[^""]*"")|\s*[\r\n]\s*", RegexOptions.CultureInvariant);

    /// <summary><paramref name="message"/> as one line: its line breaks become spaces, control and formatting characters are
    /// escaped (\x1b), words longer than <see cref="MaxWord"/> and lines longer than <see cref="MaxLine"/> are cut.</summary>
    public static string Of(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        // The message's own line breaks (with the blanks around them) become one space; a line break inside a quoted value
        // ('amo\nunt', "a\rb") is part of the value and is shown escaped, \n and \r, as a tab is \t.
        string joined = LineBreaks.Replace(message, m => m.Groups["quoted"].Success ? m.Value : " ").Trim();
        var line = new StringBuilder(Math.Min(joined.Length, MaxLine + 16));
        foreach (string word in joined.Split(' '))
        {
            if (line.Length > 0) line.Append(' ');
            line.Append(Word(word));
        }
        return line.Length <= MaxLine ? line.ToString() : CutLine(line.ToString());
    }

    /// <summary><paramref name="value"/> (a path, a file or column name, an address: text the user gave) as any line of the CLI
    /// shows it, error or not: each character as <see cref="Of"/> shows it (\x1b, \n, \u202e), nothing joined or cut.</summary>
    public static string Value(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return Escape(value, 0, value.Length, int.MaxValue, out _);
    }

    /// <summary>One word as shown: escaped, and cut to its head and tail when longer than <see cref="MaxWord"/>.</summary>
    private static string Word(string word)
    {
        string whole = Escape(word, 0, word.Length, MaxWord, out int used);
        if (used == word.Length) return whole;
        string head = Escape(word, 0, word.Length, WordHead, out int headEnd);
        return head + "..." + EscapeTail(word, headEnd, WordTail);
    }

    /// <summary>The escaped text of <paramref name="text"/>[<paramref name="start"/>..<paramref name="end"/>), stopping before
    /// the character whose escape would pass <paramref name="limit"/> characters; <paramref name="used"/> is where it stopped.</summary>
    private static string Escape(string text, int start, int end, int limit, out int used)
    {
        var shown = new StringBuilder();
        int i = start;
        while (i < end)
        {
            string piece = Piece(text.AsSpan(i, end - i), out int length);
            if (shown.Length + piece.Length > limit) break;
            shown.Append(piece);
            i += length;
        }
        used = i;
        return shown.ToString();
    }

    /// <summary>The escaped end of <paramref name="text"/> after <paramref name="notBefore"/>, at most <paramref name="limit"/>
    /// characters.</summary>
    private static string EscapeTail(string text, int notBefore, int limit)
    {
        var pieces = new List<string>();
        int shown = 0, i = text.Length;
        while (i > notBefore)
        {
            int length = i - 1 > notBefore && char.IsLowSurrogate(text[i - 1]) && char.IsHighSurrogate(text[i - 2]) ? 2 : 1;
            string piece = Piece(text.AsSpan(i - length, length), out _);
            if (shown + piece.Length > limit) break;
            pieces.Add(piece);
            shown += piece.Length;
            i -= length;
        }
        pieces.Reverse();
        return string.Concat(pieces);
    }

    /// <summary>The first character (or surrogate pair) of <paramref name="text"/> as shown; <paramref name="length"/> is how many
    /// chars it took.</summary>
    private static string Piece(ReadOnlySpan<char> text, out int length)
    {
        if (Rune.DecodeFromUtf16(text, out Rune rune, out length) != System.Buffers.OperationStatus.Done)
            return $"\\u{(int)text[0]:x4}";   // a lone surrogate: length is 1
        if (rune.Value == '\t') return "\\t";
        if (rune.Value == '\n') return "\\n";
        if (rune.Value == '\r') return "\\r";
        if (Rune.IsControl(rune)) return $"\\x{rune.Value:x2}";
        if (Rune.GetUnicodeCategory(rune) is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
            return rune.IsBmp ? $"\\u{rune.Value:x4}" : $"\\U{rune.Value:x8}";
        return rune.ToString();
    }

    /// <summary>A line longer than <see cref="MaxLine"/>: its start and its end, cut at spaces, around " ... ".</summary>
    private static string CutLine(string line)
    {
        int headEnd = line.LastIndexOf(' ', LineHead);
        if (headEnd <= 0) headEnd = LineHead;
        int tailStart = line.IndexOf(' ', line.Length - LineTail);
        if (tailStart < 0 || tailStart <= headEnd) tailStart = line.Length - LineTail;
        return line[..headEnd].TrimEnd() + " ... " + line[tailStart..].TrimStart();
    }
}
