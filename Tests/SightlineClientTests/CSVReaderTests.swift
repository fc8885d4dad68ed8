import Testing
@testable import SightlineClient

@Suite("CSV reader")
struct CSVReaderTests {
    func table(_ text: String) throws(ClientError) -> CSVTable { try CSVTable(text: text) }

    @Test("a header and plain rows, with 1-based file line numbers")
    func plain() throws {
        let t = try table("Adno,UPN\n000001,H801200001001\n000002,B801200005001\n")
        #expect(t.header == ["Adno", "UPN"])
        #expect(t.rows.map(\.line) == [2, 3])
        #expect(t.rows.map(\.cells) == [["000001", "H801200001001"], ["000002", "B801200005001"]])
    }

    @Test("quoted fields keep commas and doubled quotes")
    func quoted() throws {
        let t = try table("a,b,c\n\"Smith, Jr\",\"say \"\"hi\"\"\",plain\n\"\",\"\"\"\",x\n")
        #expect(t.rows.map(\.cells) == [["Smith, Jr", "say \"hi\"", "plain"], ["", "\"", "x"]])
    }

    @Test("a quoted field spanning lines keeps the newline, and later rows keep their real line numbers")
    func embeddedNewlines() throws {
        let t = try table("note,id\n\"first line\nsecond line\nthird\",1\nplain,2\n\"a\nb\",3\n")
        #expect(t.rows.map(\.cells) == [["first line\nsecond line\nthird", "1"], ["plain", "2"], ["a\nb", "3"]])
        #expect(t.rows.map(\.line) == [2, 5, 6])
    }

    @Test("CRLF line endings leave no carriage returns in cells")
    func crlf() throws {
        let t = try table("a,b\r\n1,2\r\n3,\"x,y\"\r\n")
        #expect(t.header == ["a", "b"])
        #expect(t.rows.map(\.cells) == [["1", "2"], ["3", "x,y"]])
        #expect(t.rows.map(\.line) == [2, 3])
    }

    @Test("a UTF-8 byte order mark before the header is skipped")
    func byteOrderMark() throws {
        let t = try table("\u{FEFF}Adno,UPN\r\n1,2\r\n")
        #expect(t.header == ["Adno", "UPN"])
        #expect(t.header.first?.unicodeScalars.first == "A")
    }

    @Test("blank lines are not rows; rows after them keep their line numbers")
    func blankLines() throws {
        let t = try table("a,b\n1,2\n\n3,4\n\n\r\n  \n")
        #expect(t.rows.map(\.cells) == [["1", "2"], ["3", "4"]])
        #expect(t.rows.map(\.line) == [2, 4])
    }

    @Test("the last row needs no final newline")
    func noFinalNewline() throws {
        let t = try table("a,b\n1,2")
        #expect(t.rows.map(\.cells) == [["1", "2"]])
    }

    @Test("empty cells are kept in position")
    func emptyCells() throws {
        let t = try table("a,b,c\n,,\n1,,3\n")
        #expect(t.rows.map(\.cells) == [["", "", ""], ["1", "", "3"]])
    }

    @Test("an unclosed quote is an error naming the line where the field starts")
    func unclosedQuote() throws {
        do {
            _ = try table("a,b\n1,2\n3,\"never closed\n4,5\n")
            Issue.record("no error")
        } catch {
            #expect(error.message.contains("line 3"), "\(error.message)")
            #expect(error.message.contains("quoted field is not closed"))
        }
    }

    @Test("an empty file is an error")
    func emptyFile() {
        #expect(throws: ClientError.self) { try table("") }
        #expect(throws: ClientError.self) { try table("\n\n") }
    }
}
