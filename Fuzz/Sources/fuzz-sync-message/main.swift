import Foundation
import WireProtocol

// libFuzzer target: one input is one frame. Decoding must return a message or throw a `ProtocolError`; anything
// else (a crash, a trap, another error) is a finding. What decodes must survive a round trip.
//
// SwiftPM names this executable's entry point itself, so libFuzzer's own `main` is not used: the driver is started
// here with `LLVMFuzzerRunDriver`, which `-sanitize=fuzzer` links in.

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

let fuzzOne: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
    let frame = UnsafeBufferPointer(start: data, count: data == nil ? 0 : size)
    do {
        let message = try SyncMessage.decode(frame)
        guard (try? SyncMessage.decode(message.encoded())) == message else {
            fatalError("a decoded message does not survive a round trip: \(message)")
        }
    } catch is ProtocolError {
        // Refused, as it should be.
    } catch {
        fatalError("decoding threw \(type(of: error)), not a ProtocolError: \(error)")
    }
    return 0
}

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
