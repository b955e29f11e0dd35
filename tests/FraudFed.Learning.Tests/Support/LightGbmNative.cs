// P/Invoke into LightGBM's own native library (lib_lightgbm, shipped with Microsoft.ML.LightGbm's
// dependency), used to score an exported model independently of FraudFed's predictor.
using System.Runtime.InteropServices;

namespace FraudFed.Learning.Tests.Support;

internal static partial class LightGbmNative
{
    private const string Lib = "lib_lightgbm";
    private const int DtypeFloat64 = 1;
    private const int PredictRawScore = 1;

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LGBM_BoosterLoadModelFromString(string modelString, out int numIterations, out IntPtr booster);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int LGBM_BoosterPredictForMat(IntPtr booster, double* data, int dataType, int rows, int cols, int rowMajor,
        int predictType, int startIteration, int numIteration, string parameter, out long outLength, double* result);

    [LibraryImport(Lib)]
    private static partial int LGBM_BoosterFree(IntPtr booster);

    [LibraryImport(Lib)]
    private static partial IntPtr LGBM_GetLastError();

    public static unsafe double[] PredictRaw(string model, double[] rowMajor, int rows, int cols, out int iterations)
    {
        Check(LGBM_BoosterLoadModelFromString(model, out iterations, out IntPtr booster));
        try
        {
            var result = new double[rows];
            fixed (double* d = rowMajor)
            fixed (double* r = result)
            {
                Check(LGBM_BoosterPredictForMat(booster, d, DtypeFloat64, rows, cols, 1, PredictRawScore, 0, -1, "num_threads=1", out long len, r));
                if (len != rows) throw new InvalidOperationException($"LightGBM returned {len} scores for {rows} rows.");
            }
            return result;
        }
        finally { LGBM_BoosterFree(booster); }
    }

    private static void Check(int rc)
    {
        if (rc != 0) throw new InvalidOperationException("LightGBM: " + Marshal.PtrToStringUTF8(LGBM_GetLastError()));
    }
}
