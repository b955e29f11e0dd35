// "Did you mean": the one known name within two edits of a name the user typed (an option of the `fraudfed` command, a
// setting of aggregator.json or bank.json). Levenshtein distance (insertions, deletions, substitutions, each one edit).
namespace FraudFed.Sdk.Configuration;

/// <summary>The nearest known name to a mistyped one.</summary>
internal static class Spelling
{
    /// <summary>The one name of <paramref name="names"/> within two edits of <paramref name="typed"/> (a typo such as --bankz
    /// for --banks, or "certificat" for "certificate"), or null when none or several are.</summary>
    public static string? Nearest(string typed, IEnumerable<string> names)
    {
        string[] near = names.Distinct(StringComparer.Ordinal).Where(n => Distance(typed, n) <= 2).ToArray();
        return near.Length == 1 ? near[0] : null;
    }

    /// <summary>The Levenshtein distance between <paramref name="a"/> and <paramref name="b"/>.</summary>
    public static int Distance(string a, string b)
    {
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
}
