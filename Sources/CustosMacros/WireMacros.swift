// Macros for value types that other modules build and that travel as JSON (the API's wire
// types): each field is written once, as a stored property.

/// Adds a public memberwise initialiser to a struct: one parameter per stored property, in
/// declaration order, defaulted only where the property has an initial value.
@attached(member, names: named(init))
public macro PublicMemberwiseInit() = #externalMacro(module: "CustosMacrosPlugin", type: "PublicMemberwiseInitMacro")

/// Adds `CodingKeys` naming each stored property in snake_case (`keyID` → `key_id`).
@attached(member, names: named(CodingKeys))
public macro SnakeCaseCodingKeys() = #externalMacro(module: "CustosMacrosPlugin", type: "SnakeCaseCodingKeysMacro")
