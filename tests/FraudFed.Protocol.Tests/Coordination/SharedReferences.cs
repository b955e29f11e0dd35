// Walks party objects by reflection and reports every object reachable from two parties. Allowed, with their reasons:
//   - strings, boxed primitives and enums: immutable;
//   - reflection and runtime objects (Type, MethodInfo, Pointer...), and objects with no instance field at all (stateless
//     singletons such as the closure class of a lambda that captures nothing, default comparers): nothing to mutate;
//   - empty arrays (the framework shares one T[0] among all empty lists): nothing to mutate;
//   - System.Security.Cryptography.KeySizes: the framework's key-size descriptors (get-only), held by AEAD objects;
//   - the public RLWE parameter set (RlweParameters) and its public precomputed tables (NttTables, RnsBasis, prime data):
//     public, fixed at construction, cached once per process like a constant; no party writes to them.
using System.Collections.Concurrent;
using System.Reflection;
using FraudFed.Cryptography.Rlwe;

namespace FraudFed.Protocol.Tests.Coordination;

internal static class SharedReferences
{
    private static readonly ConcurrentDictionary<Type, FieldInfo[]> Fields = new();
    private static readonly ConcurrentDictionary<Type, bool> HoldsReferences = new();

    /// <summary>Objects reachable from two different roots, as "type (roots a and b)" lines; allowed objects are skipped.</summary>
    public static List<string> Find(IReadOnlyList<(string Name, object Root)> parties, Func<object, bool>? alsoAllowed = null)
    {
        var owner = new Dictionary<object, string>(ReferenceEqualityComparer.Instance);
        var shared = new List<string>();
        foreach (var (name, root) in parties)
        {
            var parent = new Dictionary<object, (object? Parent, string Via)>(ReferenceEqualityComparer.Instance) { [root] = (null, name) };
            var stack = new Stack<object>();
            stack.Push(root);
            while (stack.Count > 0)
            {
                object o = stack.Pop();
                if (Allowed(o) || alsoAllowed?.Invoke(o) == true) continue;
                if (owner.TryGetValue(o, out string? first) && first != name)
                {
                    shared.Add($"{o.GetType().FullName} (reachable from {first} and {name}: {PathTo(o, parent)})");
                    continue;
                }
                owner[o] = name;
                foreach (var (child, via) in Children(o))
                    if (parent.TryAdd(child, (o, via))) stack.Push(child);
            }
        }
        return shared;
    }

    private static string PathTo(object o, Dictionary<object, (object? Parent, string Via)> parent)
    {
        var steps = new List<string>();
        for (object? x = o; x is not null && steps.Count < 16; x = parent[x].Parent) steps.Add(parent[x].Via);
        steps.Reverse();
        return string.Join(".", steps);
    }

    private static bool Allowed(object o)
    {
        Type t = o.GetType();
        if (o is string || t.IsPrimitive || t.IsEnum || o is MemberInfo || o is Pointer || o is Module || o is Assembly) return true;
        if (t.FullName?.StartsWith("System.Reflection.", StringComparison.Ordinal) == true || t.FullName?.StartsWith("System.RuntimeType", StringComparison.Ordinal) == true) return true;
        if (!t.IsArray && FieldsOf(t).Length == 0) return true;                       // stateless
        if (o is Array { Length: 0 }) return true;                                    // shared empty arrays
        if (o is System.Security.Cryptography.KeySizes) return true;                  // immutable framework descriptor
        if (o is RlweParameters) return true;                                          // the public parameter set
        string ns = t.Namespace ?? "";
        if (ns == "FraudFed.Cryptography.Ring" && t.Name is "NttTables" or "RnsBasis" or "NttPrime" or "Modulus") return true;   // its public tables
        if (ns.StartsWith("System.Collections.Generic", StringComparison.Ordinal) && t.Name.Contains("Comparer", StringComparison.Ordinal)) return true; // default comparers
        return false;
    }

    private static IEnumerable<(object, string)> Children(object o)
    {
        if (o is Array a)
        {
            Type e = a.GetType().GetElementType()!;
            if (!ContainsReferences(e)) yield break;
            int i = 0;
            foreach (object? item in a)
            {
                i++;
                if (item is null) continue;
                if (e.IsValueType) { foreach (object c in StructChildren(item)) yield return (c, $"[{i - 1}]"); }
                else yield return (item, $"[{i - 1}]");
            }
            yield break;
        }
        foreach (FieldInfo f in FieldsOf(o.GetType()))
        {
            if (!ContainsReferences(f.FieldType) && !f.FieldType.IsInterface && f.FieldType != typeof(object)) continue;
            object? v = f.GetValue(o);
            if (v is null) continue;
            if (f.FieldType.IsValueType) { foreach (object c in StructChildren(v)) yield return (c, f.Name); }
            else yield return (v, f.Name);
        }
    }

    /// <summary>The references held by a (boxed copy of a) struct: the box itself is not a shared object.</summary>
    private static IEnumerable<object> StructChildren(object boxed)
    {
        foreach (FieldInfo f in FieldsOf(boxed.GetType()))
        {
            if (!ContainsReferences(f.FieldType)) continue;
            object? v = f.GetValue(boxed);
            if (v is null) continue;
            if (f.FieldType.IsValueType) { foreach (object c in StructChildren(v)) yield return c; }
            else yield return v;
        }
    }

    private static FieldInfo[] FieldsOf(Type t) => Fields.GetOrAdd(t, static t =>
    {
        var all = new List<FieldInfo>();
        for (Type? x = t; x is not null; x = x.BaseType)
            all.AddRange(x.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly));
        return [.. all];
    });

    private static bool ContainsReferences(Type t)
    {
        if (!t.IsValueType) return true;
        if (t.IsPrimitive || t.IsEnum || t.IsPointer) return false;
        return HoldsReferences.GetOrAdd(t, static t => FieldsOf(t).Any(f => f.FieldType != t && ContainsReferences(f.FieldType)));
    }
}
