import CustosCLI

@main
enum Custos {
    static func main() async { await CustosCommand.hardenedMain() }
}
