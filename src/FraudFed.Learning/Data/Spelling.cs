// "Did you mean": the one known name a name the user typed probably stands for (an option of the `fraudfed` command, a
// setting of aggregator.json or bank.json, a key of a --schema file). Two rules, the first that gives one name wins:
//   1. a typo: Levenshtein distance (insertions, deletions, substitutions, each one edit) of at most two ("certificat");
//   2. word by word: split on '_' and '-', each typed word (as many as the known name has, or fewer: its leading words,
//      so "join" finds "join_seconds") the known word at its place, a prefix of it
//      ("dir" for "directory"), an abbreviation keeping its first letter and its letters in order ("msg" for "message"), or
//      one edit from it when both have four letters or more ("mesage"). So "state_dir" finds "state_directory" and
//      "max_msg_bytes" finds "max_message_bytes", which are too many edits away for rule 1.
// Case is ignored. Several names that fit equally well give no suggestion (the caller lists the valid names instead).
namespace FraudFed.Learning.Data;

/// <summary>The nearest known name to a mistyped one.</summary>
internal static class Spelling
{
    /// <summary>The one name of <paramref name="names"/> that <paramref name="typed"/> probably stands for (see the file header: a
    /// typo within two edits, such as --bankz for --banks, else a word-by-word abbreviation, such as state_dir for
    /// state_directory), or null when none or several fit.</summary>
    public static string? Nearest(string typed, IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(typed);
        ArgumentNullException.ThrowIfNull(names);
        string[] known = names.Distinct(StringComparer.Ordinal).ToArray();
        string lower = typed.ToLowerInvariant();
        string[] near = known.Where(n => Distance(lower, n.ToLowerInvariant()) <= 2).ToArray();
        if (near.Length == 1) return near[0];
        if (near.Length > 1) return null;
        string[] words = Words(lower);
        string[] abbreviated = known.Where(n => WordWise(words, Words(n.ToLowerInvariant()))).ToArray();
        return abbreviated.Length == 1 ? abbreviated[0] : null;
    }

    private static string[] Words(string name) => name.Split('_', '-');

    /// <summary>True when every typed word stands for the known word at its place (as many words as the known name, or fewer).</summary>
    private static bool WordWise(string[] typed, string[] known)
    {
        if (typed.Length > known.Length) return false;
        for (int i = 0; i < typed.Length; i++)
            if (!StandsFor(typed[i], known[i])) return false;
        return true;
    }

    /// <summary>The typed word is the known word, a prefix of it, an abbreviation of it (its first letter, then some of its
    /// letters in order), or one edit from it when both have four letters or more.</summary>
    private static bool StandsFor(string typed, string known)
    {
        if (typed == known) return true;
        if (typed.Length == 0 || known.Length == 0 || typed[0] != known[0]) return false;
        if (known.StartsWith(typed, StringComparison.Ordinal)) return true;
        int j = 0;
        foreach (char c in known)
            if (j < typed.Length && typed[j] == c) j++;
        if (j == typed.Length && typed.Length < known.Length) return true;
        return typed.Length >= 4 && known.Length >= 4 && Distance(typed, known) <= 1;
    }

    /// <summary>The Levenshtein distance between <paramref name="a"/> and <paramref name="b"/>.</summary>
    public static int Distance(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var row = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) row[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }

    /// <summary>"a, b and c": <paramref name="names"/> quoted in single quotes, for a message that lists the valid names.</summary>
    public static string List(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        string[] quoted = names.Select(n => $"'{n}'").ToArray();
        return quoted.Length <= 1 ? string.Concat(quoted) : $"{string.Join(", ", quoted[..^1])} and {quoted[^1]}";
    }
}
