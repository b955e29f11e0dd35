// Issue 8, "every .proto message round-trips": every message type of protocols/fraudfed/v1/*.proto (common, homomorphic,
// masking, training, and service, whose types the SDK compiles), nested ones included, built with every field set to a
// value other than its default (once per oneof case), serialized, parsed back: equal to what was built, and serialized
// again to the same bytes. The list of types comes from the compiled descriptors and is checked against the `message`
// declarations of the .proto files, so a message added to a file without being compiled here fails the test. The
// wrappers' golden bytes are the conformance vectors (protocols/vectors/wire) and TrainingWireTests.
using System.Collections;
using System.Text.RegularExpressions;
using FraudFed.Testing;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using NUnit.Framework;

namespace FraudFed.Aggregator.Tests;

[TestFixture]
public sealed partial class EveryProtoMessageRoundTripTests
{
    private static readonly FileDescriptor[] Files =
    [
        FraudFed.Protocol.Wire.V1.CommonReflection.Descriptor,
        FraudFed.Protocol.Wire.V1.HomomorphicReflection.Descriptor,
        FraudFed.Protocol.Wire.V1.MaskingReflection.Descriptor,
        FraudFed.Protocol.Wire.V1.TrainingReflection.Descriptor,
        FraudFed.Sdk.Wire.ServiceReflection.Descriptor,
    ];

    private static IEnumerable<MessageDescriptor> WithNested(MessageDescriptor d) => d.NestedTypes.SelectMany(WithNested).Prepend(d);

    private static IEnumerable<MessageDescriptor> AllMessages() => Files.SelectMany(f => f.MessageTypes).SelectMany(WithNested);

    [GeneratedRegex(@"^\s*message\s+(\w+)", RegexOptions.Multiline)]
    private static partial Regex MessageDeclaration();

    [Test]
    public void TheCompiledMessages_AreEveryMessageDeclaredInTheProtoFiles()
    {
        string dir = Path.Combine(Repository.Root, "protocols", "fraudfed", "v1");
        string[] declared = Directory.GetFiles(dir, "*.proto").SelectMany(f => MessageDeclaration().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value))
            .Order(StringComparer.Ordinal).ToArray();
        Assert.That(Files.Select(f => f.Name), Is.EquivalentTo(Directory.GetFiles(dir, "*.proto").Select(f => "fraudfed/v1/" + Path.GetFileName(f))),
            "every .proto file is in the list");
        Assert.That(AllMessages().Select(d => d.Name).Order(StringComparer.Ordinal).ToArray(), Is.EqualTo(declared));
        Assert.That(declared, Has.Length.GreaterThan(60));
    }

    private static IEnumerable<TestCaseData> Cases()
    {
        foreach (MessageDescriptor d in AllMessages())
        {
            OneofDescriptor[] oneofs = d.Oneofs.Where(o => !o.IsSynthetic).ToArray();
            yield return new TestCaseData(d.FullName, null).SetName($"Proto/{d.FullName}");
            foreach (OneofDescriptor o in oneofs)
                foreach (FieldDescriptor f in o.Fields.Skip(1))   // the first case is in the plain case above
                    yield return new TestCaseData(d.FullName, f.Name).SetName($"Proto/{d.FullName}/{f.Name}");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void EveryMessage_WithEveryFieldSet_RoundTripsToEqualValueAndIdenticalBytes(string fullName, string? oneofCase)
    {
        MessageDescriptor d = AllMessages().Single(m => m.FullName == fullName);
        IMessage built = Build(d, oneofCase, depth: 0);
        byte[] bytes = built.ToByteArray();
        IMessage parsed = d.Parser.ParseFrom(bytes);
        Assert.That(parsed, Is.EqualTo(built), "parsed back equal to what was built");
        Assert.That(parsed.ToByteArray(), Is.EqualTo(bytes), "serialized again to the same bytes");
        // Every field (and the chosen oneof case) survives: none came back as its default.
        foreach (FieldDescriptor f in d.Fields.InFieldNumberOrder())
        {
            bool set = f.ContainingOneof is not { IsSynthetic: false } oneof
                || f.Name == (oneofCase is not null && oneof.Fields.Any(x => x.Name == oneofCase) ? oneofCase : oneof.Fields[0].Name);
            if (!set) continue;
            object value = f.Accessor.GetValue(parsed);
            Assert.That(value is IList list ? list.Count : value is IDictionary map ? map.Count : 1, Is.GreaterThan(0), f.Name);
            Assert.That(Equals(value, Default(f)), Is.False, $"{f.Name} came back as its default");
        }
        if (d.Fields.InFieldNumberOrder().Count > 0) Assert.That(bytes, Is.Not.Empty);
    }

    private static object? Default(FieldDescriptor f) => f.IsRepeated || f.FieldType == FieldType.Message ? null : f.FieldType switch
    {
        FieldType.Bool => false,
        FieldType.String => "",
        FieldType.Bytes => ByteString.Empty,
        FieldType.Enum => Enum.ToObject(f.EnumType.ClrType, 0),
        _ => Convert.ChangeType(0, Scalar(f, 0).GetType(), System.Globalization.CultureInfo.InvariantCulture),
    };

    private static IMessage Build(MessageDescriptor d, string? oneofCase, int depth)
    {
        Assert.That(depth, Is.LessThan(8), $"{d.FullName}: message nesting too deep (a recursive message?)");
        var message = (IMessage)Activator.CreateInstance(d.ClrType)!;
        int k = 0;
        foreach (FieldDescriptor f in d.Fields.InFieldNumberOrder())
        {
            k++;
            if (f.ContainingOneof is { IsSynthetic: false } oneof)
            {
                string chosen = oneofCase is not null && oneof.Fields.Any(x => x.Name == oneofCase) ? oneofCase : oneof.Fields[0].Name;
                if (f.Name != chosen) continue;
            }
            if (f.IsMap)
            {
                var map = (IDictionary)f.Accessor.GetValue(message);
                FieldDescriptor key = f.MessageType.FindFieldByNumber(1), value = f.MessageType.FindFieldByNumber(2);
                map[Value(key, k, depth)] = Value(value, k + 1, depth);
            }
            else if (f.IsRepeated)
            {
                var list = (IList)f.Accessor.GetValue(message);
                list.Add(Value(f, k, depth));
                list.Add(Value(f, k + 100, depth));
            }
            else f.Accessor.SetValue(message, Value(f, k, depth));
        }
        return message;
    }

    private static object Value(FieldDescriptor f, int k, int depth) => f.FieldType switch
    {
        FieldType.Message or FieldType.Group => Build(f.MessageType, null, depth + 1),
        FieldType.Bool => (object)true,
        FieldType.String => $"text {k} ü",
        FieldType.Bytes => ByteString.CopyFrom([(byte)k, 0, 0xFF, (byte)(k * 7)]),
        FieldType.Enum => Enum.ToObject(f.EnumType.ClrType, f.EnumType.Values[^1].Number),
        _ => Scalar(f, k),
    };

    /// <summary>A value of the field's scalar type, never 0, using the high bits of the wider types.</summary>
    private static object Scalar(FieldDescriptor f, int k) => f.FieldType switch
    {
        FieldType.Double => (object)(k == 0 ? 0.0 : k + 0.25),
        FieldType.Float => (object)(k == 0 ? 0f : k + 0.5f),
        FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => (object)(k == 0 ? 0 : -k * 1000),
        FieldType.UInt32 or FieldType.Fixed32 => (object)(k == 0 ? 0u : (uint)k * 0x0101_0101u),
        FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => (object)(k == 0 ? 0L : -k * 0x1_0000_0001L),
        FieldType.UInt64 or FieldType.Fixed64 => (object)(k == 0 ? 0UL : (ulong)k * 0x0100_0000_0000_0001UL),
        _ => throw new AssertionException($"{f.FullName}: field type {f.FieldType} not handled"),
    };
}
