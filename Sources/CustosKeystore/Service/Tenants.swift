import CustosCrypto
import CustosStore
import Foundation

extension KeyService {
    // MARK: Tenants

    public func createTenant(_ id: String, by principal: Principal) async throws -> TenantInfo {
        try await audited(.tenantCreate, by: principal, tenant: id) {
            try principal.authorize(.manageTenants, tenant: nil)
            try Names.validateTenant(id)
            let now = clock()
            let wrapping = try await keyring.makeWrappingKey(tenant: id, generation: 1, at: now)
            try await store.createTenant(TenantRecord(id: id, createdAt: now), wrappingKey: wrapping,
                                         audit: [event(.tenantCreate, by: principal, tenant: id)])
            logger.info("tenant created", metadata: ["tenant": "\(id)"])
            return TenantInfo(id: id, createdAt: now, wrappingGeneration: 1)
        }
    }

    public func tenants(by principal: Principal) async throws -> [TenantInfo] {
        try await mappingErrors {
            try principal.authorize(.readKeys, tenant: principal.tenant)
            var result: [TenantInfo] = []
            for tenant in try await store.tenants() where principal.tenant == nil || principal.tenant == tenant.id {
                let generation = try await store.wrappingKeys(tenantID: tenant.id).last?.generation ?? 0
                result.append(TenantInfo(id: tenant.id, createdAt: tenant.createdAt, wrappingGeneration: generation))
            }
            return result
        }
    }

    func requireTenant(_ id: String) async throws {
        guard try await store.tenant(id: id) != nil else { throw KeystoreError.store(.tenantNotFound(id)) }
    }
}
