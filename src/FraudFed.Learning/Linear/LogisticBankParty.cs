// The bank side of party-split FedAvg logistic regression (protocols/SPEC.md 14.4). A bank party holds its own rows, the
// public LogisticOptions and the modulus k; from LogisticTrainingStart it standardizes its rows (z = (t(x) - mean) / std,
// a missing value is z = 0), and for every LogisticRoundRequest it takes LocalSteps full-batch gradient steps from the
// broadcast weights and answers round(n_b * w_b * 2^S) per weight (round half to even). A local weight with magnitude
// >= 2^WeightBoundBits is an OverflowException, never clipped. Broadcasts of the wrong kind, round or shape are refused
// (ProtocolViolationException) before anything changes.
using FraudFed.Cryptography;
using FraudFed.Learning.Data;
using FraudFed.Learning.Federation;

namespace FraudFed.Learning.Linear;

/// <summary>One bank's party in federated logistic regression: its rows and its local FedAvg steps (SPEC.md 14.4).</summary>
public sealed class LogisticBankParty : ITrainingBankParty
{
    private readonly LabeledRows _rows;
    private readonly LogisticOptions _options;
    private readonly SignedResidues _codec;
    private SetupPhase _phase = SetupPhase.Counts;
    private double[]? _z;
    private int _scale, _rounds, _round;

    /// <summary>A party over this bank's own training rows.</summary>
    /// <param name="rows">The bank's training rows (at least one).</param>
    /// <param name="options">The public FedAvg settings every party and the coordinator share.</param>
    /// <param name="modulusBits">k: answers are residues mod 2^k (16..64).</param>
    /// <exception cref="ArgumentException">invalid options, or k outside 16..64.</exception>
    /// <exception cref="DataFormatException">the bank has no training rows.</exception>
    public LogisticBankParty(LabeledRows rows, LogisticOptions options, int modulusBits)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (rows.Rows == 0) throw new DataFormatException("The bank has no training rows.", null, null);
        _rows = rows;
        _options = options;
        _codec = new SignedResidues(modulusBits);
    }

    /// <summary>The last FedAvg round this party answered (0 before the first).</summary>
    public int Round => _round;

    /// <inheritdoc />
    public ulong[] Answer(TrainingBroadcast broadcast)
    {
        ArgumentNullException.ThrowIfNull(broadcast);
        switch (broadcast)
        {
            case TrainingSetupRequest setup:
                var (answer, next) = BankSetup.Answer(setup, _phase, _rows, _codec);
                _phase = next;
                return answer;
            case LogisticTrainingStart start:
                Start(start);
                return [];
            case LogisticRoundRequest round:
                return RoundAnswer(round);
            default:
                throw BankSetup.Refuse(ViolationReason.WrongRoundOrState, $"A logistic bank party does not take {broadcast.GetType().Name}.");
        }
    }

    private void Start(LogisticTrainingStart start)
    {
        if (_phase != SetupPhase.Start)
            throw BankSetup.Refuse(ViolationReason.WrongRoundOrState, "LogisticTrainingStart arrived outside the end of the setup.");
        int f = _rows.Features;
        if (start.Mean is null || start.Std is null || start.Mean.Length != f || start.Std.Length != f)
            throw BankSetup.Refuse(ViolationReason.Malformed, $"LogisticTrainingStart must carry a mean and a std for exactly {f} features.");
        if (start.Mean.Any(m => !double.IsFinite(m)) || start.Std.Any(s => !double.IsFinite(s) || !(s > 0)))
            throw BankSetup.Refuse(ViolationReason.OutOfRange, "LogisticTrainingStart's means must be finite and its standard deviations finite and positive.");
        if (start.WeightScaleBits < 6 || start.WeightScaleBits + _options.WeightBoundBits + SumChannel.BitLength(_rows.Rows) > _codec.Bits - 2)
            throw BankSetup.Refuse(ViolationReason.OutOfRange, $"Weight scale 2^{start.WeightScaleBits} does not fit this bank's rows in a {_codec.Bits}-bit sum.");
        if (start.Rounds != _options.Rounds)
            throw BankSetup.Refuse(ViolationReason.Inconsistent, $"LogisticTrainingStart announces {start.Rounds} rounds; the public options say {_options.Rounds}.");
        var z = new double[_rows.Rows * f];
        float[] v = _rows.Values;
        for (int i = 0; i < _rows.Rows; i++)
            for (int j = 0; j < f; j++)
            {
                float x = v[i * f + j];
                z[i * f + j] = float.IsNaN(x) ? 0.0 : (LogisticModel.Transform(x) - start.Mean[j]) / start.Std[j];
            }
        _z = z;
        _scale = start.WeightScaleBits;
        _rounds = start.Rounds;
        _phase = SetupPhase.Training;
    }

    private ulong[] RoundAnswer(LogisticRoundRequest request)
    {
        if (_z is null)
            throw BankSetup.Refuse(ViolationReason.WrongRoundOrState, "A round request arrived before LogisticTrainingStart.");
        if (request.Round != _round + 1 || request.Round > _rounds)
            throw BankSetup.Refuse(ViolationReason.WrongRoundOrState, $"Round {request.Round} arrived; the bank expects round {_round + 1} of {_rounds}.");
        int f = _rows.Features;
        if (request.Weights is null || request.Weights.Length != f + 1)
            throw BankSetup.Refuse(ViolationReason.Malformed, $"A round request must carry {f + 1} weights.");
        if (request.Weights.Any(w => !double.IsFinite(w)))
            throw BankSetup.Refuse(ViolationReason.OutOfRange, "A round request carries a weight that is not finite.");
        double bound = Math.ScaleB(1.0, _options.WeightBoundBits);

        double[] local = LocalSteps(_z, _rows.Labels, f, request.Weights, _options);
        double unit = Math.ScaleB(1.0, _scale);
        var q = new long[f + 1];
        for (int j = 0; j <= f; j++)
        {
            if (!double.IsFinite(local[j]) || Math.Abs(local[j]) >= bound)
                throw new OverflowException($"This bank's weight {j} ({local[j]}) is outside the fixed-point bound 2^{_options.WeightBoundBits}.");
            q[j] = (long)Math.Round(local[j] * _rows.Rows * unit, MidpointRounding.ToEven);
        }
        ulong[] answer = _codec.Encode(q);
        _round = request.Round;
        return answer;
    }

    private static double[] LocalSteps(double[] z, bool[] labels, int f, double[] start, LogisticOptions o)
    {
        var w = (double[])start.Clone();
        var grad = new double[f + 1];
        int rows = labels.Length;
        for (int step = 0; step < o.LocalSteps; step++)
        {
            Array.Clear(grad);
            for (int i = 0; i < rows; i++)
            {
                int row = i * f;
                double s = w[f];
                for (int j = 0; j < f; j++) s += w[j] * z[row + j];
                double e = 1.0 / (1.0 + Math.Exp(-s)) - (labels[i] ? 1.0 : 0.0);
                for (int j = 0; j < f; j++) grad[j] += e * z[row + j];
                grad[f] += e;
            }
            for (int j = 0; j <= f; j++)
                w[j] -= o.LearningRate * (grad[j] / rows + (j < f ? o.L2 * w[j] : 0));
        }
        return w;
    }
}
