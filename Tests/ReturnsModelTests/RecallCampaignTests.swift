import Foundation
import ReturnsModel
import Testing

@Suite struct RecallCampaignTests {
    private func campaign(
        lots: [String] = [],
        serials: [String] = [],
        status: RecallCampaign.Status = .open
    ) throws
        -> RecallCampaign
    {
        try RecallCampaign(
            id: "RC-1",
            gtins: [GTIN("4006381333931")],
            lots: lots.map { try ItemCode($0, kind: "lot") },
            serials: serials.map { try ItemCode($0, kind: "serial") },
            hazard: "battery may overheat",
            instructions: "quarantine, do not charge",
            unitsAffected: 500,
            status: status,
            createdAt: Date()
        )
    }

    private let drill = try! GTIN("4006381333931")
    private func code(_ text: String?) -> ItemCode? { text.map { try! ItemCode($0) } }

    @Test(
        arguments: [
            ([String](), [String](), "L1", nil, RecallCampaign.Match?.some(.certain)),  // every lot and serial
            (["L1"], [], "L1", nil, .some(.certain)),
            (["L1"], [], "L2", nil, nil),  // another lot: not recalled
            (["L1"], [], nil, nil, .some(.uncertain)),  // lot unknown: held for inspection
            ([], ["S9"], nil, "S9", .some(.certain)),
            ([], ["S9"], nil, "S8", nil),
            ([], ["S9"], "L1", nil, .some(.uncertain)),  // serials listed, only the lot is known
        ] as [([String], [String], String?, String?, RecallCampaign.Match?)]
    )
    func matching(
        lots: [String],
        serials: [String],
        lot: String?,
        serial: String?,
        expected: RecallCampaign.Match?
    )
        throws
    {
        #expect(
            try campaign(lots: lots, serials: serials).match(gtin: drill, lot: code(lot), serial: code(serial))
                == expected
        )
    }

    @Test func otherProductsAndClosedCampaignsNeverMatch() throws {
        #expect(try campaign().match(gtin: GTIN("96385074"), lot: nil, serial: nil) == nil)
        #expect(try campaign(status: .closed).match(gtin: drill, lot: nil, serial: nil) == nil)
    }

    @Test func campaignsAreValidated() {
        #expect {
            try RecallCampaign(
                id: "RC 1",
                gtins: [drill],
                hazard: "h",
                instructions: "i",
                unitsAffected: 1,
                createdAt: Date()
            )
        } throws: { "\($0)".contains("recall id 'RC 1'") }
        #expect {
            try RecallCampaign(
                id: "RC-1",
                gtins: [],
                hazard: "h",
                instructions: "i",
                unitsAffected: 1,
                createdAt: Date()
            )
        } throws: { "\($0)".contains("names no GTIN") }
        #expect {
            try RecallCampaign(
                id: "RC-1",
                gtins: [drill],
                hazard: " ",
                instructions: "i",
                unitsAffected: 1,
                createdAt: Date()
            )
        } throws: { "\($0)".contains("blank hazard") }
        #expect {
            try RecallCampaign(
                id: "RC-1",
                gtins: [drill],
                hazard: "h",
                instructions: "i",
                unitsAffected: 0,
                createdAt: Date()
            )
        } throws: { "\($0)".contains("units affected 0") }
    }
}
