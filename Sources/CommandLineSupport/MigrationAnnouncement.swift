import ReplicaStore

extension ReplicaStore.Configuration {
    /// This configuration, telling `console`'s standard error what opening the database will migrate and about how
    /// long it will take, before the migration starts (``MigrationPlan/announcement``): what `kiosk` and
    /// `returns-server` do on every open.
    public func announcingMigrations(to console: Console = .current) -> Self {
        var configuration = self
        configuration.announceMigration = { plan in console.printError(plan.announcement) }
        return configuration
    }
}
