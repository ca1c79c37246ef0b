import QKVFormat
import QKVInference

extension AttentionReport {
    /// The profile of one head, found by its layer and head rather than by position, so a report whose
    /// profiles are listed in another order still renders the right numbers.
    func profile(layer: Int, head: Int) -> HeadProfile? {
        let index = layer * record.headCount + head
        if profiles.indices.contains(index), profiles[index].layer == layer, profiles[index].head == head {
            return profiles[index]
        }
        return profiles.first { $0.layer == layer && $0.head == head }
    }

    /// The stored weights' norms of one head (nil when the report has none).
    func weightNorms(layer: Int, head: Int) -> ModelSummary.Head? {
        let index = layer * record.headCount + head
        if weights.indices.contains(index), weights[index].layer == layer, weights[index].head == head {
            return weights[index]
        }
        return weights.first { $0.layer == layer && $0.head == head }
    }

    /// Every (layer, head) pair, layer by layer.
    var headIndices: [(layer: Int, head: Int)] {
        (0..<record.layerCount).flatMap { layer in (0..<record.headCount).map { (layer, $0) } }
    }
}
