// rlwe/modulus-switch.json: the compact upload's switch of c0 to 2^64 and the aggregate's lift back to Q (SPEC.md 12.0
// steps 4 and 7), checked against exact big-integer arithmetic, the SPEC's fixed-point formula, and the library.
using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FraudFed.Cryptography.Ring;
using FraudFed.Cryptography.Rlwe;
using FraudFed.Cryptography.Threshold;

namespace FraudFed.Conformance.Vectors;

/// <summary>rlwe/modulus-switch.json: c0' = round(2^64 x / Q) mod 2^64 from the residues of x, and
/// floor((Q w + 2^63) / 2^64) mod q_i from a word w.</summary>
internal sealed class ModulusSwitchVectors : IVectorFile
{
    public string Path => "rlwe/modulus-switch.json";
    public bool Generated => true;
    private static readonly BigInteger Two64 = BigInteger.One << 64;

    private static IEnumerable<(string Name, BigInteger X)> Inputs(BigInteger q)
    {
        yield return ("zero", 0);
        yield return ("one", 1);
        yield return ("Q-1", q - 1);
        yield return ("(Q-1)/2", (q - 1) / 2);
        yield return ("(Q+1)/2", (q + 1) / 2);
        yield return ("just below Q/2^64", q / Two64);
        for (int i = 0; i < 6; i++)
            yield return ($"uniform/{i}", new BigInteger(Fixed.Bytes($"modulus-switch/uniform/{i}", 64), isUnsigned: true) % q);
    }

    private static IEnumerable<(string Name, ulong W)> Words()
    {
        yield return ("0", 0);
        yield return ("1", 1);
        yield return ("2^63 - 1", (1UL << 63) - 1);
        yield return ("2^63", 1UL << 63);
        yield return ("2^63 + 1", (1UL << 63) + 1);
        yield return ("2^64 - 1", ulong.MaxValue);
        for (int i = 0; i < 4; i++)
            yield return ($"uniform/{i}", BitConverter.ToUInt64(Fixed.Bytes($"modulus-switch/word/{i}", 64), 0));
    }

    /// <summary>Exact rounding: floor(2^64 x / Q + 1/2) mod 2^64 (Q odd: never a tie).</summary>
    private static ulong Exact(BigInteger x, BigInteger q) => (ulong)(((2 * Two64 * x + q) / (2 * q)) % Two64);

    /// <summary>The SPEC's fixed point: W_i = floor(2^192 / q_i); of y_i W_i, bits 128.. to I, bits 64..127 to F.</summary>
    internal static ulong FixedPoint(ulong[] y, IReadOnlyList<ulong> primes)
    {
        BigInteger intSum = 0, fracSum = 0;
        for (int i = 0; i < y.Length; i++)
        {
            BigInteger product = y[i] * ((BigInteger.One << 192) / primes[i]);
            intSum += product >> 128;
            fracSum += (product >> 64) & (Two64 - 1);
        }
        return (ulong)((intSum + ((fracSum + (BigInteger.One << 63)) >> 64)) % Two64);
    }

    private static ulong Library(RlweParameters p, ulong[] residues)
    {
        RnsPoly x = p.Basis.Allocate();
        for (int i = 0; i < residues.Length; i++) x.Limb(i)[0] = residues[i];
        var words = new ulong[p.N];
        new ModulusSwitch(p).Switch(x, words);
        return words[0];
    }

    private static ulong[] LibraryLift(RlweParameters p, ulong w)
    {
        var words = new ulong[p.N];
        words[0] = w;
        RnsPoly lifted = p.Basis.Allocate();
        new ModulusSwitch(p).Lift(words, lifted);
        return Enumerable.Range(0, p.Primes.Count).Select(i => lifted.Limb(i)[0]).ToArray();
    }

    public JsonObject Generate()
    {
        RlweParameters p = ParameterSets.Default;
        BigInteger q = p.Basis.Q;
        var switches = new JsonArray();
        foreach (var (name, x) in Inputs(q))
        {
            ulong[] residues = p.Primes.Select(qi => (ulong)(x % qi)).ToArray();
            ulong[] y = residues.Select((r, i) => Reference.MulMod(r, p.Basis.QHatInverse(i), p.Primes[i])).ToArray();
            ulong word = FixedPoint(y, p.Primes);
            if (Library(p, residues) != word) throw new ConformanceException($"modulus switch of case {name} differs from the fixed-point rule");
            switches.Add(new JsonObject { ["name"] = name, ["x"] = x.ToString(CultureInfo.InvariantCulture), ["residues"] = J.DArray(residues), ["y"] = J.DArray(y), ["word"] = J.D(word) });
        }
        var lifts = new JsonArray();
        foreach (var (name, w) in Words())
        {
            BigInteger lifted = (q * w + (BigInteger.One << 63)) >> 64;
            lifts.Add(new JsonObject { ["name"] = name, ["word"] = J.D(w), ["lifted"] = lifted.ToString(CultureInfo.InvariantCulture), ["residues"] = J.DArray(LibraryLift(p, w)) });
        }
        return new JsonObject
        {
            ["description"] = "Modulus switching of the compact upload (SPEC.md 12.0 steps 4 and 7) over the default set. Switch: for c0 coefficient x in [0, Q) given by its residues x_i, y_i = [x_i (Q/q_i)^-1]_{q_i}, W_i = floor(2^192 / q_i); of each product y_i W_i the bits 128 and up are added into I and the bits 64..127 into F; word = (I + floor((F + 2^63) / 2^64)) mod 2^64, which equals round(2^64 x / Q) mod 2^64 except within 2^-60 of a half (no case here). Lift: for a word w (the aggregate mod 2^64), lifted = floor((Q w + 2^63) / 2^64) in [0, Q], residues = lifted mod q_i. Inputs: x = (the 64 bytes of SHA-512(\"FraudFed conformance v1/modulus-switch/uniform/i\") as an unsigned big-endian integer) mod Q, w = the first 8 bytes of SHA-512(\"FraudFed conformance v1/modulus-switch/word/i\") as u64 LE, and edge values. Integers are decimal strings. Generated by `fraudfed vectors generate` (ModulusSwitch), checked against exact BigInteger arithmetic.",
            ["parameter_set"] = p.Name,
            ["q"] = q.ToString(CultureInfo.InvariantCulture),
            ["switch"] = switches,
            ["lift"] = lifts,
        };
    }

    public IEnumerable<CheckCase> Cases(JsonElement root)
    {
        RlweParameters P() => RlweSets.ByName(root.Str("parameter_set"));
        BigInteger Q() => P().Primes.Aggregate(BigInteger.One, (a, x) => a * x);
        yield return new CheckCase("modulus", () =>
            Expect.Equal("Q = product of the primes", root.Str("q"), Q().ToString(CultureInfo.InvariantCulture)));
        foreach (JsonElement c in root.Arr("switch"))
        {
            yield return new CheckCase("switch " + c.Str("name"), () =>
            {
                RlweParameters p = P();
                BigInteger q = Q();
                BigInteger x = BigInteger.Parse(c.Str("x"), CultureInfo.InvariantCulture);
                ulong[] residues = c.U64s("residues"), y = c.U64s("y");
                for (int i = 0; i < residues.Length; i++)
                {
                    ulong qi = p.Primes[i];
                    Expect.Equal($"x mod q_{i}", (ulong)(x % qi), residues[i]);
                    ulong inverse = (ulong)BigInteger.ModPow(q / qi % qi, qi - 2, qi);
                    Expect.Equal($"y_{i} = [x_{i} (Q/q_{i})^-1]_q_{i}", Reference.MulMod(residues[i], inverse, qi), y[i]);
                }
                ulong word = c.U64("word");
                Expect.Equal("word = the fixed-point rule (BigInteger)", FixedPoint(y, p.Primes), word);
                Expect.Equal("word = round(2^64 x / Q) mod 2^64 (BigInteger)", Exact(x, q), word);
                Expect.Equal("ModulusSwitch.Switch", word, Library(p, residues));
            });
        }
        foreach (JsonElement c in root.Arr("lift"))
        {
            yield return new CheckCase("lift " + c.Str("name"), () =>
            {
                RlweParameters p = P();
                BigInteger q = Q();
                ulong w = c.U64("word");
                BigInteger lifted = (q * w + (BigInteger.One << 63)) >> 64;
                Expect.Equal("lifted = floor((Q w + 2^63) / 2^64) (BigInteger)", c.Str("lifted"), lifted.ToString(CultureInfo.InvariantCulture));
                ulong[] residues = c.U64s("residues");
                for (int i = 0; i < residues.Length; i++) Expect.Equal($"lifted mod q_{i}", (ulong)(lifted % p.Primes[i]), residues[i]);
                Expect.Equal("ModulusSwitch.Lift", string.Join(",", residues), string.Join(",", LibraryLift(p, w)));
            });
        }
    }
}

/// <summary>
/// The switch of one coefficient from first principles (SPEC.md 12.0 steps 4-5): x by CRT from its residues, the word by
/// the fixed-point rule, and a check that the word is within 1/2 + 2^-60 of 2^64 x / Q modulo 2^64 (exact BigInteger).
/// </summary>
internal sealed class SwitchReference
{
    private readonly RlweParameters _p;
    private readonly BigInteger _q;
    private readonly BigInteger[] _qHat;
    private readonly ulong[] _qHatInverse;

    public SwitchReference(RlweParameters p)
    {
        _p = p;
        _q = p.Primes.Aggregate(BigInteger.One, (a, x) => a * x);
        _qHat = p.Primes.Select(qi => _q / qi).ToArray();
        _qHatInverse = p.Primes.Select((qi, i) => (ulong)BigInteger.ModPow(_qHat[i] % qi, qi - 2, qi)).ToArray();
    }

    /// <summary>The word for the coefficient with these residues; throws ConformanceException if it is not within
    /// 1/2 + 2^-60 of 2^64 x / Q.</summary>
    public ulong Word(ulong[] residues)
    {
        BigInteger x = 0;
        var y = new ulong[residues.Length];
        for (int i = 0; i < residues.Length; i++)
        {
            ulong qi = _p.Primes[i];
            Expect.True(residues[i] < qi, $"residue {i} below its prime");
            y[i] = Reference.MulMod(residues[i], _qHatInverse[i], qi);
            x += y[i] * _qHat[i];
        }
        x %= _q;
        ulong word = ModulusSwitchVectors.FixedPoint(y, _p.Primes);
        // |word - 2^64 x / Q| (centred mod 2^64) <= 1/2 + 2^-60, i.e. |word Q - 2^64 x| (centred mod 2^64 Q) * 2^60 <= 2^59 Q + Q.
        BigInteger modulus = _q << 64;
        BigInteger diff = (((BigInteger)word * _q - (x << 64)) % modulus + modulus) % modulus;
        if (diff > modulus / 2) diff -= modulus;
        Expect.True(BigInteger.Abs(diff) << 60 <= (_q << 59) + _q, "the word is round(2^64 x / Q) mod 2^64 within 1/2 + 2^-60");
        return word;
    }
}
