import CommandLineSupport
import Foundation
import HQAccess
import Hummingbird
import ReplicaStore
import ReturnsModel
import ReturnsServer
import ReturnsSync

/// Return policies and store settings: what every kiosk applies offline. Any role reads them; admins set them —
/// `returns-server policy set|remove` and `store set`, the same global edits, in the user's name.
extension HQConsole {
    func settingsPage(_ request: Request) async throws -> Response {
        let signed = try await session(request)
        async let policies = storage.returnPolicies()
        async let storeRecords = storage.storeRecords()
        let mayAdminister = signed.user.role.may(.administerFleet)
        let token = "<input type=\"hidden\" name=\"csrf\" value=\"\(signed.token.csrfToken)\">"
        let policyRows = try await policies.map { policy in
            let store = policy.store?.rawValue ?? ""
            let remove =
                mayAdminister
                ? """
                <form method="post" action="/settings/policy/remove">\(token)
                <input type="hidden" name="store" value="\(Page.escape(store))">
                <input type="hidden" name="gtinPrefix" value="\(Page.escape(policy.gtinPrefix))">
                <button type="submit">Remove</button></form>
                """ : ""
            var cells: [String] = [store.isEmpty ? "every store" : store]
            cells.append(policy.gtinPrefix.isEmpty ? "every product" : policy.gtinPrefix)
            cells.append("\(policy.windowDays) days")
            cells.append(policy.receiptRequired ? "required" : "not required")
            cells.append(policy.restockingFee.map(String.init(describing:)) ?? "none")
            cells.append(policy.receiptlessLimit.map { "\($0.count) in \($0.days) days" } ?? "no limit")
            cells.append(policy.customerVelocity.map { "> \($0.count) units in \($0.days) days" } ?? "none")
            return "<tr>" + cells.map { "<td>\(Page.escape($0))</td>" }.joined() + "<td>\(remove)</td></tr>"
        }
        let records = try await storeRecords
        let zones = StoreTimeZones.decoding(records)
        let glns = StoreEntity.glns(in: records)
        let retentions = StoreEntity.retentions(in: records)
        let stores = Set(zones.zones.keys).union(glns.keys).union(retentions.keys).sorted { $0.rawValue < $1.rawValue }
        let storeRows = stores.map { store in
            "<tr>"
                + [
                    store.rawValue, zones[store].identifier, glns[store]?.digits ?? "—",
                    "\(retentions[store] ?? StoreEntity.defaultRetentionDays) days",
                ].map { "<td>\(Page.escape($0))</td>" }.joined() + "</tr>"
        }
        var message = ""
        if let done = request.uri.queryParameters.get("done") {
            message = "<p class=\"done\" role=\"status\">\(Page.escape(done)) Kiosks receive it at their next sync.</p>"
        }
        let forms =
            mayAdminister
            ? """
            <div class="edits">
            <form method="post" action="/settings/policy">\(token)
            <h2>Set a policy</h2>
            <label for="p-store">Store (empty: every store)</label><input id="p-store" name="store">
            <label for="p-prefix">GTIN-14 prefix (empty: every product)</label><input id="p-prefix" name="gtinPrefix">
            <label for="p-window">Days after the sale a return is accepted</label>
            <input id="p-window" name="windowDays" inputmode="numeric" required>
            <label for="p-receipt"><input type="checkbox" id="p-receipt" name="receiptRequired" value="yes"> \
            A receipt is required</label>
            <label for="p-fee">Restocking fee: 15% or 4.50 (optional)</label><input id="p-fee" name="restockingFee">
            <label for="p-limit">Receipt-less returns per customer, COUNT/DAYS (optional)</label>
            <input id="p-limit" name="receiptlessLimit" placeholder="3/30">
            <label for="p-velocity">Review a customer returning more than UNITS/DAYS (optional)</label>
            <input id="p-velocity" name="customerVelocity" placeholder="5/7">
            <button type="submit">Set the policy</button></form>
            <form method="post" action="/settings/store">\(token)
            <h2>Set a store</h2>
            <label for="s-store">Store</label><input id="s-store" name="store" required>
            <label for="s-zone">Time zone (IANA: Europe/Berlin)</label><input id="s-zone" name="timeZone">
            <label for="s-gln">GLN (13 digits)</label><input id="s-gln" name="gln" inputmode="numeric">
            <label for="s-retention">Days its kiosks keep closed and voided returns (7-3650)</label>
            <input id="s-retention" name="retentionDays" inputmode="numeric">
            <button type="submit">Set the store</button></form>
            </div>
            """ : ""
        return Page.html(
            title: "Policies and stores",
            body: """
                \(header(signed))
                <main>
                <h1>Policies and stores</h1>
                \(message)
                <h2>Return policies</h2>
                <table><thead><tr><th>Store</th><th>GTIN prefix</th><th>Window</th><th>Receipt</th>\
                <th>Restocking fee</th><th>Receipt-less</th><th>Velocity</th><th></th></tr></thead>
                <tbody>\(policyRows.joined(separator: "\n"))</tbody></table>
                <p class="note">Without a matching policy: \(ReturnPolicy.default.windowDays) days, \
                \(ReturnPolicy.default.receiptRequired ? "receipt required" : "no receipt required").</p>
                <h2>Stores</h2>
                <table><thead><tr><th>Store</th><th>Time zone</th><th>GLN</th><th>Kiosks keep</th></tr></thead>
                <tbody>\(storeRows.joined(separator: "\n"))</tbody></table>
                <p class="note">Every other store: UTC, no GLN, closed and voided returns kept \
                \(StoreEntity.defaultRetentionDays) days on its kiosks (HQ keeps every return).</p>
                \(forms)
                </main>
                """
        )
    }

    struct PolicyForm: ConsoleForm {
        var csrf: String?
        var store: String?
        var gtinPrefix: String?
        var windowDays: String?
        var receiptRequired: String?
        var restockingFee: String?
        var receiptlessLimit: String?
        var customerVelocity: String?
    }

    /// `text` trimmed, `nil` when empty: an optional field left blank.
    static func given(_ text: String?) -> String? {
        text.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0.trimmingCharacters(in: .whitespaces) }
    }

    func setPolicy(_ request: Request) async throws -> Response {
        let (signed, form) = try await posted(PolicyForm.self, request, may: .administerFleet)
        do {
            let windowText = Self.given(form.windowDays) ?? ""
            guard let windowDays = Int(windowText) else {
                throw ConsoleInputError("invalid window '\(windowText)': expected a whole number of days")
            }
            let policy = try ReturnPolicy.validated(
                store: Self.given(form.store).map(StoreID.init),
                gtinPrefix: Self.given(form.gtinPrefix) ?? "",
                windowDays: windowDays,
                receiptRequired: form.receiptRequired == "yes",
                restockingFee: Self.given(form.restockingFee).map(RestockingFee.parse),
                receiptlessLimit: Self.given(form.receiptlessLimit).map(CustomerLimit.parse),
                customerVelocity: Self.given(form.customerVelocity).map(CustomerLimit.parse)
            )
            _ = try await storage.write(GlobalEdit.setPolicy(policy).operated(by: signed.operatorID))
            try await audit(signed, "policy-set", subject: policy.recordID)
            return Response.redirect(to: "/settings?done=\(Page.percentEncoded("Policy \(policy.recordID) set."))")
        } catch {
            return actionFailed(signed, title: "Policy not set", error, back: "/settings")
        }
    }

    func removePolicy(_ request: Request) async throws -> Response {
        let (signed, form) = try await posted(PolicyForm.self, request, may: .administerFleet)
        do {
            let edit = try GlobalEdit.removePolicy(
                store: Self.given(form.store).map(StoreID.init),
                gtinPrefix: Self.given(form.gtinPrefix) ?? ""
            )
            _ = try await storage.write(edit.operated(by: signed.operatorID))
            let scope = "\(Self.given(form.store) ?? "*")/\(Self.given(form.gtinPrefix) ?? "*")"
            try await audit(signed, "policy-removed", subject: scope)
            return Response.redirect(to: "/settings?done=\(Page.percentEncoded("Policy \(scope) removed."))")
        } catch {
            return actionFailed(signed, title: "Policy not removed", error, back: "/settings")
        }
    }

    struct StoreForm: ConsoleForm {
        var csrf: String?
        var store: String?
        var timeZone: String?
        var gln: String?
        var retentionDays: String?
    }

    func setStore(_ request: Request) async throws -> Response {
        let (signed, form) = try await posted(StoreForm.self, request, may: .administerFleet)
        do {
            let store = try StoreID(Self.given(form.store) ?? "")
            let zone = try Self.given(form.timeZone).map(StoreTimeZone.init)
            let location = try Self.given(form.gln).map(GLN.init)
            let retention = try Self.given(form.retentionDays).map { text in
                guard let days = Int(text) else {
                    throw ConsoleInputError("invalid retention '\(text)': expected a whole number of days")
                }
                return try StoreEntity.validatedRetention(days)
            }
            guard zone != nil || location != nil || retention != nil else {
                throw ConsoleInputError("nothing to set: give a time zone, a GLN, a retention or several")
            }
            _ = try await storage.write(
                GlobalEdit.setStore(store, timeZone: zone, gln: location, retentionDays: retention)
                    .operated(by: signed.operatorID)
            )
            let said = [
                zone.map { "time zone \($0)" }, location.map { "GLN \($0)" }, retention.map { "retention \($0) days" },
            ].compactMap { $0 }
            try await audit(signed, "store-set", subject: store.rawValue, detail: said.joined(separator: ", "))
            return Response.redirect(
                to: "/settings?done=\(Page.percentEncoded("Store \(store) set: \(said.joined(separator: ", ")).")))"
            )
        } catch {
            return actionFailed(signed, title: "Store not set", error, back: "/settings")
        }
    }
}
