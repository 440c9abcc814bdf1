import Foundation
import ReturnSyncTestSupport
import ReturnsModel
import SyncCore
import SyncEngine
import Testing
import WireProtocol

/// Every hostile input of `HostileInputs` (the same list the socket tests send a real server) against the protocol
/// alone: the frame decoder, ``ServerSession`` and ``PushRules`` over in-memory storage. Each must be refused with
/// its code, close the conversation exactly when the case says, and store nothing.
@Suite struct HostileSessionTests {
    /// The kiosk the session authenticates, as ``ServerSessionTests`` sets it up.
    static let kiosk = try! ReplicaID("store-1/a")

    @Test(arguments: HostileInputs.cases)
    func hostileInputIsRefusedWithoutSockets(_ hostile: HostileCase) throws {
        // A real return of kiosk store-1/a, for the cases that mutate one, stamped a minute before the server's
        // clock.
        var storage = MemoryPushTransaction()
        storage.kiosks = [Self.kiosk.rawValue]
        let captured = Date(millisecondsSince1970: Int64(storage.wallClock) - 60_000)
        let record = try SampleData.capturedReturn(by: Self.kiosk, at: captured)
        let payload = hostile.payload(record)
        guard payload.utf8.count <= maximumFrameSize else {
            // Cut by the transport's line decoder before a message exists (SyncTransport; the socket test).
            #expect(hostile.code == .frameTooLarge)
            return
        }
        var session = hostile.authenticated ? try ServerSessionTests.established() : ServerSessionTests.session()
        var refusal: ProtocolError?
        var closes = false
        // Frames are lines; a last line without its `\n` is a frame too (the socket's end delivers it).
        for line in payload.split(separator: "\n", omittingEmptySubsequences: true) {
            let message: SyncMessage
            do {
                message = try SyncMessage.decode(Array(line.utf8))
            } catch let error as ProtocolError {
                // As the server's driver decides: a frame that does not decode spoils that request only once the
                // kiosk is authenticated, unless its code closes the connection.
                refusal = error
                closes = session.authenticatedKiosk == nil || error.code.closesConnection
                break
            }
            let actions: [ServerSession.Action]
            do {
                actions = try session.receive(message)
            } catch {
                // The session's refusals end the conversation.
                refusal = error
                closes = true
                break
            }
            for action in actions {
                switch action {
                case .push(let kiosk, _, let records):
                    do {
                        _ = try PushRules.accept(records, from: kiosk.replicaID, store: kiosk.storeID, in: &storage)
                    } catch let rejection as PushRejection {
                        // Answered as `error`; the connection stays.
                        refusal = ProtocolError(ProtocolError.Code(rejection.reason), rejection.message)
                    }
                case .attachmentOffer(_, let digest), .attachmentPut(_, let digest, _, _),
                    .attachmentGet(_, let digest, _):
                    // The in-memory storage holds no return, so no return names any attachment.
                    refusal = AttachmentRules.unknown(digest)
                default:
                    break
                }
            }
            if refusal != nil { break }
        }
        let error = try #require(refusal, "\(hostile.name) was not refused")
        #expect(error.code == hostile.code, "\(hostile.name): \(error.message)")
        #expect(closes == hostile.closes, "\(hostile.name): the conversation should \(hostile.closes ? "" : "not ")end")
        #expect(!error.code.isRetryable, "\(hostile.name): retrying cannot help")
        #expect(storage.returns.isEmpty, "\(hostile.name): nothing stored")
    }
}
