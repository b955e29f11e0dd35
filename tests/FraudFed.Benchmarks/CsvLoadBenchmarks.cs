using BenchmarkDotNet.Attributes;
using FraudFed.Learning.Data;
using FraudFed.Testing;

namespace FraudFed.Benchmarks;

/// <summary>
/// CsvDatasetLoader on a generated ULB-schema file of the real file's size (284,807 rows, 31 columns, quoted header and
/// labels; about 160 MB), written to the temp directory in setup and deleted after. Target: under 3 s per load.
/// </summary>
[MemoryDiagnoser]
public class CsvLoadBenchmarks
{
    private string _path = "";

    [Params(284_807)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _path = Path.Combine(Path.GetTempPath(), $"fraudfed-bench-ulb-{Rows}.csv");
        var style = new CsvStyle(QuoteHeader: true, Labels: LabelStyle.QuotedZeroOne);
        PublicSchemaFiles.Write(_path, PublicSchemaFiles.Ulb(Rows, seed: 1, style), style);
    }

    [GlobalCleanup]
    public void Cleanup() => File.Delete(_path);

    [Benchmark]
    public int LoadUlb() => CsvDatasetLoader.Load(_path, CsvSchema.Ulb).Rows.Rows;
}
