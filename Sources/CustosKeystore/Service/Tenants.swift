import CustosCrypto
import CustosStore
import Foundation

extension KeyService {
    // MARK: Tenants

    public func createTenant(_ id: TenantID, by principal: Principal) async throws -> TenantInfo {
        try await audited(.tenantCreate, by: principal, tenant: id) {
            try principal.authorize(.manageTenants, tenant: nil)
            let now = clock()
            let wrapping = try await keyring.makeWrappingKey(tenant: id.rawValue, generation: 1, at: now)
            try await store.createTenant(TenantRecord(id: id.rawValue, createdAt: now), wrappingKey: wrapping,
                                         audit: [event(.tenantCreate, by: principal, tenant: id)])
            logger.info("tenant created", metadata: ["tenant": "\(id)"])
            return TenantInfo(id: id, createdAt: now, wrappingGeneration: 1)
        }
    }

    public func tenants(by principal: Principal) async throws -> [TenantInfo] {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: principal.tenant)
            var result: [TenantInfo] = []
            for tenant in try await store.tenants() where principal.tenant == nil || principal.tenant?.rawValue == tenant.id {
                let generation = try await store.wrappingKeys(tenantID: tenant.id).last?.generation ?? 0
                guard let id = TenantID(tenant.id) else {
                    throw KeystoreError.corruptRecord("tenant record '\(tenant.id.prefix(80))' has an invalid id")
                }
                result.append(TenantInfo(id: id, createdAt: tenant.createdAt, wrappingGeneration: generation))
            }
            return result
        }
    }

    func requireTenant(_ id: TenantID) async throws {
        guard try await store.tenant(id: id.rawValue) != nil else { throw KeystoreError.store(.tenantNotFound(id.rawValue)) }
    }
}
