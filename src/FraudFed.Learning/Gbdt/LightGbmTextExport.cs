// Writes a GbdtModel in LightGBM's text model format ("tree" header, version=v4, one Tree=i block per
// tree, "end of trees"), the format LGBM_BoosterLoadModelFromString reads. The base score is folded into
// the first tree's leaves (as LightGBM's boost_from_average does), leaf values are already shrunk,
// every split is numerical with missing type NaN: decision_type 10 (NaN goes left) or 8 (NaN goes right),
// else x <= threshold goes left (LightGBM tree.h NumericalDecision), and doubles are written in round-trip form so LightGBM parses the exact same values.
using System.Globalization;
using System.Text;

namespace FraudFed.Learning.Gbdt;

/// <summary>Exports a <see cref="GbdtModel"/> as a LightGBM text model.</summary>
public static class LightGbmTextExport
{
    /// <summary>The model as LightGBM text.</summary>
    public static string ToLightGbmText(GbdtModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var inv = CultureInfo.InvariantCulture;
        int f = model.FeatureNames.Count;
        var trees = new List<string>(model.Trees.Count);
        for (int t = 0; t < model.Trees.Count; t++) trees.Add(TreeBlock(model, t));

        var sb = new StringBuilder();
        sb.Append("tree\n");
        sb.Append("version=v4\n");
        sb.Append("num_class=1\n");
        sb.Append("num_tree_per_iteration=1\n");
        sb.Append("label_index=0\n");
        sb.Append("max_feature_idx=").Append((f - 1).ToString(inv)).Append('\n');
        sb.Append("objective=binary sigmoid:1\n");
        sb.Append("feature_names=").Append(string.Join(' ', model.FeatureNames.Select(Sanitize))).Append('\n');
        sb.Append("feature_infos=").Append(string.Join(' ', Enumerable.Range(0, f).Select(j =>
        {
            double[] th = model.Bins.Thresholds[j];
            return th.Length == 0 ? "none" : "[" + R(th[0]) + ":" + R(th[^1]) + "]";
        }))).Append('\n');
        sb.Append("tree_sizes=").Append(string.Join(' ', trees.Select(s => Encoding.UTF8.GetByteCount(s).ToString(inv)))).Append('\n');
        sb.Append('\n');
        foreach (string block in trees) sb.Append(block);
        sb.Append("end of trees\n\n");
        sb.Append("parameters:\n");
        sb.Append("[boosting: gbdt]\n[objective: binary]\n");
        sb.Append("[learning_rate: ").Append(R(model.Options.LearningRate)).Append("]\n");
        sb.Append("[max_depth: ").Append(model.Options.MaxDepth.ToString(inv)).Append("]\n");
        sb.Append("[lambda_l2: ").Append(R(model.Options.L2)).Append("]\n");
        sb.Append("[min_sum_hessian_in_leaf: ").Append(R(model.Options.MinChildWeight)).Append("]\n");
        sb.Append("[min_data_in_leaf: ").Append(model.Options.MinChildCount.ToString(inv)).Append("]\n");
        sb.Append("[max_bin: ").Append(model.Options.MaxBins.ToString(inv)).Append("]\n");
        sb.Append("end of parameters\n\n");
        sb.Append("pandas_categorical:null\n");
        return sb.ToString();
    }

    private static string TreeBlock(GbdtModel model, int index)
    {
        GbdtTree tree = model.Trees[index];
        var inv = CultureInfo.InvariantCulture;
        double offset = index == 0 ? model.BaseScore : 0.0;
        var sb = new StringBuilder();
        sb.Append("Tree=").Append(index.ToString(inv)).Append('\n');
        sb.Append("num_leaves=").Append(tree.Leaves.ToString(inv)).Append('\n');
        sb.Append("num_cat=0\n");
        if (tree.Leaves > 1)
        {
            sb.Append("split_feature=").Append(Join(tree.SplitFeature)).Append('\n');
            sb.Append("split_gain=").Append(Join(tree.Gain)).Append('\n');
            sb.Append("threshold=").Append(Join(tree.Threshold)).Append('\n');
            sb.Append("decision_type=").Append(string.Join(' ', tree.DefaultLeft.Select(left => left ? DecisionNaNLeft : DecisionNaNRight))).Append('\n');
            sb.Append("left_child=").Append(Join(tree.Left)).Append('\n');
            sb.Append("right_child=").Append(Join(tree.Right)).Append('\n');
        }
        sb.Append("leaf_value=").Append(Join(tree.LeafValue.Select(v => v + offset).ToArray())).Append('\n');
        if (tree.Leaves > 1)
        {
            sb.Append("leaf_weight=").Append(Join(tree.LeafWeight)).Append('\n');
            sb.Append("leaf_count=").Append(Join(tree.LeafCount)).Append('\n');
            sb.Append("internal_value=").Append(Join(tree.InternalValue.Select(v => v + offset).ToArray())).Append('\n');
            sb.Append("internal_weight=").Append(Join(tree.InternalWeight)).Append('\n');
            sb.Append("internal_count=").Append(Join(tree.InternalCount)).Append('\n');
        }
        sb.Append("is_linear=0\n");
        sb.Append("shrinkage=").Append(R(model.Options.LearningRate)).Append('\n');
        sb.Append("\n\n");
        return sb.ToString();
    }

    // decision_type bits (LightGBM tree.h): 1 categorical, 2 default left, (missing type << 2) with NaN = 2.
    private const string DecisionNaNLeft = "10", DecisionNaNRight = "8";

    private static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
    private static string Join(double[] v) => string.Join(' ', v.Select(R));
    private static string Join(int[] v) => string.Join(' ', v.Select(x => x.ToString(CultureInfo.InvariantCulture)));
    private static string Join(long[] v) => string.Join(' ', v.Select(x => x.ToString(CultureInfo.InvariantCulture)));
    private static string Sanitize(string name) => new(name.Select(c => char.IsWhiteSpace(c) || c == '=' || c == ':' ? '_' : c).ToArray());
}
