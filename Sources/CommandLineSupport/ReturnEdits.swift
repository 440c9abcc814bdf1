import ReplicaStore
import ReturnsModel

/// The return edits both command lines offer (a kiosk's staff and HQ alike), each one local edit of the replica,
/// returning the line to print.
public enum ReturnEdits {
    /// Routes a return.
    public static func disposition(_ store: ReplicaStore, id: String, to text: String, note: String?) throws -> String {
        let id = try ReturnID(id)
        let disposition = try Disposition.parseRoutable(text)
        let item = try store.updateReturn(id, operation: "disposition") { item, author, date in
            try item.assignDisposition(disposition, note: note, by: author, at: date)
        }
        return "\(item.id) dispositioned: \(item.disposition.rawValue)"
    }

    /// Adds a note.
    public static func note(_ store: ReplicaStore, id: String, text: String) throws -> String {
        let id = try ReturnID(id)
        let item = try store.updateReturn(id, operation: "note") { item, author, date in
            try item.addNote(text, by: author, at: date)
        }
        return "\(item.id) note added (\(item.notes.count) in all)"
    }

    /// Voids a return; the note says why.
    public static func void(_ store: ReplicaStore, id: String, note: String) throws -> String {
        let id = try ReturnID(id)
        let item = try store.updateReturn(id, operation: "void") { item, author, date in
            try item.void(note: note, by: author, at: date)
        }
        return "\(item.id) voided"
    }
}
