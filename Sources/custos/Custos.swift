import CustosCLI

@main
extension CustosCommand {}
