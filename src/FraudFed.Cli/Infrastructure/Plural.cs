namespace FraudFed.Cli.Infrastructure;

/// <summary>Counts in progress and summary lines: "1 value", "2 values".</summary>
internal static class Plural
{
    /// <summary><paramref name="n"/> and <paramref name="noun"/>, with an "s" unless <paramref name="n"/> is 1; digits grouped
    /// (N0, current culture) when <paramref name="grouped"/>.</summary>
    public static string Of(long n, string noun, bool grouped = false) =>
        $"{(grouped ? n.ToString("N0") : n.ToString())} {noun}{(n == 1 ? "" : "s")}";
}
