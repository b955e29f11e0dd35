namespace FraudFed.Testing;

/// <summary>Locates files of the repository (e.g. protocols/vectors) from a test's working directory.</summary>
public static class Repository
{
    /// <summary>The repository root: the nearest ancestor directory holding FraudFed.sln.</summary>
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "FraudFed.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("FraudFed.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>Path of a file under protocols/vectors.</summary>
    public static string Vector(params string[] parts) => Path.Combine([Root, "protocols", "vectors", .. parts]);
}
