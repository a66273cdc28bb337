import CustosPKI
import Testing

@Suite("Certificate fields")
struct CertificateFieldTests {
    @Test func subjectsInRFC4514Order() throws {
        #expect(try SubjectName.parse("CN=node 1, OU=ops ,O=Acme Ltd,C=DE").description == "CN=node 1,OU=ops,O=Acme Ltd,C=DE")
        #expect(try SubjectName.parse("cn=x,l=Berlin,st=BE").description == "CN=x,L=Berlin,ST=BE")
        for bad in ["", "x", "CN=", "O=only", "CN=a,E=b", "CN=a\\,b", "CN=a+O=b", "CN=\"q\"", "CN=a,C=de", "CN=a\u{0}", "CN=\u{202e}x",
                    "CN=" + String(repeating: "a", count: 65)] {
            #expect(throws: PKIError.self) { try SubjectName.parse(bad) }
        }
    }

    @Test func dnsNames() throws {
        #expect(try AlternativeNames.dnsName("Node-1.Example.COM") == "node-1.example.com")
        #expect(try AlternativeNames.dnsName("*.svc.example.com") == "*.svc.example.com")
        #expect(try AlternativeNames.dnsName("localhost") == "localhost")
        for bad in ["", ".", "a.", ".a", "a..b", "-a", "a-", "*", "*.com", "a.*.b.c", "**.a.b", "*a.b.c", "a b", "a_b", "é.com",
                    String(repeating: "a", count: 64), String(repeating: "a.", count: 127) + "a"] {
            #expect(throws: PKIError.self, "\(bad)") { try AlternativeNames.dnsName(bad) }
        }
    }

    @Test func ipAddresses() throws {
        #expect(try AlternativeNames.ipAddress("10.0.0.1") == [10, 0, 0, 1])
        #expect(try AlternativeNames.ipAddress("::1") == Array(repeating: 0, count: 15) + [1])
        #expect(AlternativeNames.ipText(try AlternativeNames.ipAddress("2001:db8::7")) == "2001:db8::7")
        for bad in ["", "1.2.3", "1.2.3.4.5", "01.2.3.4", "256.0.0.1", "1.2.3.-4", " 1.2.3.4", "1.2.3.4 ", "0x1.2.3.4", "fe80::1%lo", "::g", "1::2::3"] {
            #expect(throws: PKIError.self, "\(bad)") { try AlternativeNames.ipAddress(bad) }
        }
    }
}
