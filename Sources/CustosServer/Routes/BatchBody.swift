import CustosAPI
import Foundation

/// A batch request whose items are decoded one by one: a malformed item (a missing
/// field, a wrong type, not an object) becomes that item's error, and the others run.
/// The request itself must still be an object with an `items` array.
struct BatchBody<Item: Decodable & Sendable>: Decodable, Sendable {
    var items: [Result<Item, Problem>]

    init(items: [Result<Item, Problem>]) { self.items = items }

    private struct Slot: Decodable {
        var item: Result<Item, Problem>
        init(from decoder: any Decoder) throws {
            do {
                item = .success(try Item(from: decoder))
            } catch {
                item = .failure(.invalid("\(Problem.describe(error)) (this item is not a valid batch item)"))
            }
        }
    }

    private enum CodingKeys: String, CodingKey { case items }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        items = try container.decode([Slot].self, forKey: .items).map(\.item)
    }
}

/// The common batch of signatures keeps its direct reader; anything it does not read
/// goes through the item-by-item decoding above.
extension BatchBody: DirectlyReadable where Item == BatchSignRequest.Item {
    static func read(json: UnsafeRawBufferPointer) -> BatchBody? {
        BatchSignRequest.read(json: json).map { BatchBody(items: $0.items.map { .success($0) }) }
    }
}
