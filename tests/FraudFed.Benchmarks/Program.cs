using BenchmarkDotNet.Running;

namespace FraudFed.Benchmarks;

/// <summary>BenchmarkDotNet entry point: `dotnet run -c Release --project tests/FraudFed.Benchmarks -- --filter '*'`.</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
