import FoundationEssentials

/// libFuzzer entry: config.json (and `exec --process` JSON) decoding and validation, the
/// code that reads hand-written and hostile input. Any trap (force unwrap, overflow, index
/// out of range), sanitizer report or hang is a bug; an error thrown is a correct answer.
/// As an oracle, a config that decodes must encode and decode again.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    if let spec = try? Spec.decode(data) {
        _ = spec.validate()
        let encoded: Data
        do {
            encoded = try JSONEncoder().encode(spec)
        } catch {
            fatalError("a decoded config does not encode: \(error)")
        }
        do {
            _ = try Spec.decode(encoded)
        } catch {
            fatalError("a config apus wrote does not decode: \(error)\n\(String(decoding: encoded, as: UTF8.self))")
        }
    }
    _ = try? Spec.decodeProcess(data)
    return 0
}
