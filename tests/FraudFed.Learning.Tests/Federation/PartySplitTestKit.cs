using System.Reflection;
using System.Runtime.CompilerServices;
using FraudFed.Learning.Federation;

namespace FraudFed.Learning.Tests.Federation;

/// <summary>Helpers for driving bank parties and a coordinator by hand, without TrainingRun or any ISecureSum.</summary>
internal static class PartySplitTestKit
{
    /// <summary>Schoolbook sum mod 2^k of the banks' answers, index by index (independent of SumChannel and PlainSum).</summary>
    public static ulong[] SchoolbookSum(IReadOnlyList<ulong[]> answers, int modulusBits)
    {
        ulong mask = modulusBits == 64 ? ulong.MaxValue : (1UL << modulusBits) - 1;
        var sum = new ulong[answers[0].Length];
        foreach (ulong[] a in answers)
            for (int i = 0; i < sum.Length; i++) sum[i] = (sum[i] + a[i]) & mask;
        return sum;
    }

    /// <summary>Every object reachable from <paramref name="root"/> through instance fields and object arrays.</summary>
    public static HashSet<object> Reachable(object root)
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<object>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            object o = stack.Pop();
            if (!seen.Add(o)) continue;
            Type t = o.GetType();
            if (t.IsPrimitive || o is string || o is Type || o is Delegate || o is Pointer) continue;
            if (o is Array a)
            {
                if (t.GetElementType()!.IsPrimitive) continue;
                foreach (object? e in a) if (e is not null) stack.Push(e);
                continue;
            }
            for (Type? u = t; u is not null; u = u.BaseType)
                foreach (FieldInfo fi in u.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                {
                    if (fi.FieldType.IsPointer) continue;
                    object? v = fi.GetValue(o);
                    if (v is not null && !fi.FieldType.IsPrimitive) stack.Push(v);
                }
        }
        return seen;
    }
}
