package sluice.compat;

import sluice.compat.KafkaTool.Result;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DeleteAclsResult;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * ACLs through Kafka's Java AdminClient (createAcls, describeAcls, deleteAcls) and {@code kafka-acls.sh} (the
 * AclCommand tool), against a broker with the authorizer on and {@code User:ANONYMOUS} (these plaintext clients) as
 * super user. Each test uses principals of its own. Kafka applies an ACL change a moment after it answers (through
 * its metadata log), so what a describe should show is polled for, bounded.
 */
class AclsTest {
    @RegisterExtension
    static final SluiceExtension broker = new SluiceExtension("acls",
            Map.of("authorizer_enabled", true, "super_users", "User:ANONYMOUS"));

    private static AclBinding binding(ResourceType type, String name, PatternType pattern, String principal,
            AclOperation op, AclPermissionType permission) {
        return new AclBinding(new ResourcePattern(type, name, pattern),
                new AccessControlEntry(principal, "*", op, permission));
    }

    private static AclBindingFilter byPrincipal(String principal) {
        return new AclBindingFilter(ResourcePatternFilter.ANY,
                new AccessControlEntryFilter(principal, null, AclOperation.ANY, AclPermissionType.ANY));
    }

    private static Set<AclBinding> describe(Admin admin, AclBindingFilter filter) {
        return new HashSet<>(Kafka.get(admin.describeAcls(filter).values()));
    }

    /** Polls {@code actual} until it equals {@code expected}; fails with the last value after Kafka.TIMEOUT. */
    private static <T> void awaitEquals(T expected, Supplier<T> actual, String what) {
        long deadline = System.nanoTime() + Kafka.TIMEOUT.toNanos();
        T last = actual.get();
        while (!expected.equals(last) && System.nanoTime() < deadline) {
            try {
                TimeUnit.MILLISECONDS.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
            last = actual.get();
        }
        assertEquals(expected, last, what);
    }

    @Test
    void adminClientCreatesDescribesAndDeletes() throws Exception {
        String user = "User:java-admin";
        AclBinding read = binding(ResourceType.TOPIC, "java-pay-in", PatternType.LITERAL, user, AclOperation.READ,
                AclPermissionType.ALLOW);
        AclBinding write = binding(ResourceType.TOPIC, "java-pay-", PatternType.PREFIXED, user, AclOperation.WRITE,
                AclPermissionType.ALLOW);
        AclBinding group = binding(ResourceType.GROUP, "java-group", PatternType.LITERAL, user, AclOperation.READ,
                AclPermissionType.DENY);
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.get(admin.createAcls(List.of(read, write, group)).all());
            awaitEquals(Set.of(read, write, group), () -> describe(admin, byPrincipal(user)), "the user's ACLs");

            // MATCH: the bindings that apply to a topic of that name.
            AclBindingFilter match = new AclBindingFilter(
                    new ResourcePatternFilter(ResourceType.TOPIC, "java-pay-in", PatternType.MATCH),
                    new AccessControlEntryFilter(user, null, AclOperation.ANY, AclPermissionType.ANY));
            assertEquals(Set.of(read, write), describe(admin, match));
            AclBindingFilter denies = new AclBindingFilter(ResourcePatternFilter.ANY,
                    new AccessControlEntryFilter(user, null, AclOperation.ANY, AclPermissionType.DENY));
            assertEquals(Set.of(group), describe(admin, denies));

            // The cluster resource has one name.
            AclBinding badCluster = binding(ResourceType.CLUSTER, "not-kafka-cluster", PatternType.LITERAL, user,
                    AclOperation.ALTER, AclPermissionType.ALLOW);
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> admin.createAcls(List.of(badCluster)).all().get(Kafka.TIMEOUT.toMillis(),
                            TimeUnit.MILLISECONDS));
            assertInstanceOf(InvalidRequestException.class, e.getCause());

            // Delete with two filters: each lists what it matched.
            AclBindingFilter prefixed = new AclBindingFilter(
                    new ResourcePatternFilter(ResourceType.ANY, null, PatternType.PREFIXED),
                    new AccessControlEntryFilter(user, null, AclOperation.ANY, AclPermissionType.ANY));
            AclBindingFilter groups = new AclBindingFilter(
                    new ResourcePatternFilter(ResourceType.GROUP, "java-group", PatternType.LITERAL),
                    AccessControlEntryFilter.ANY);
            DeleteAclsResult deleted = admin.deleteAcls(List.of(prefixed, groups));
            assertEquals(Set.of(write), Set.copyOf(deletedBy(deleted, prefixed)));
            assertEquals(Set.of(group), Set.copyOf(deletedBy(deleted, groups)));
            awaitEquals(Set.of(read), () -> describe(admin, byPrincipal(user)), "after the delete");

            Kafka.get(admin.deleteAcls(List.of(byPrincipal(user))).all());
            awaitEquals(Set.of(), () -> describe(admin, byPrincipal(user)), "after deleting everything");
        }
    }

    private static Collection<AclBinding> deletedBy(DeleteAclsResult result, AclBindingFilter filter) {
        return Kafka.get(result.values().get(filter)).values().stream()
                .map(DeleteAclsResult.FilterResult::binding).toList();
    }

    @Test
    void kafkaAclsAddsListsAndRemoves() {
        String principal = "User:cli-user";
        Result added = tool("--add", "--allow-principal", principal, "--operation", "Read", "--operation",
                "Describe", "--topic", "cli-acl-topic", "--group", "cli-acl-group");
        assertEquals(0, added.code(), added.toString());

        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Set<AclBinding> expected = Set.of(
                    binding(ResourceType.TOPIC, "cli-acl-topic", PatternType.LITERAL, principal, AclOperation.READ,
                            AclPermissionType.ALLOW),
                    binding(ResourceType.TOPIC, "cli-acl-topic", PatternType.LITERAL, principal,
                            AclOperation.DESCRIBE, AclPermissionType.ALLOW),
                    binding(ResourceType.GROUP, "cli-acl-group", PatternType.LITERAL, principal, AclOperation.READ,
                            AclPermissionType.ALLOW),
                    binding(ResourceType.GROUP, "cli-acl-group", PatternType.LITERAL, principal,
                            AclOperation.DESCRIBE, AclPermissionType.ALLOW));
            awaitEquals(expected, () -> describe(admin, byPrincipal(principal)), "what kafka-acls.sh added");

            Result listed = tool("--list", "--principal", principal);
            assertEquals(0, listed.code(), listed.toString());
            assertTrue(listed.out().contains("name=cli-acl-topic"), listed.toString());
            assertTrue(listed.out().contains("name=cli-acl-group"), listed.toString());
            assertTrue(listed.out().contains("operation=READ"), listed.toString());

            Result removed = tool("--remove", "--force", "--allow-principal", principal, "--operation", "Read",
                    "--operation", "Describe", "--topic", "cli-acl-topic");
            assertEquals(0, removed.code(), removed.toString());
            Set<AclBinding> groupOnly = new HashSet<>(expected);
            groupOnly.removeIf(b -> b.pattern().resourceType() == ResourceType.TOPIC);
            awaitEquals(groupOnly, () -> describe(admin, byPrincipal(principal)), "after kafka-acls.sh --remove");

            Result rest = tool("--remove", "--force", "--allow-principal", principal, "--operation", "Read",
                    "--operation", "Describe", "--group", "cli-acl-group");
            assertEquals(0, rest.code(), rest.toString());
            awaitEquals(Set.of(), () -> describe(admin, byPrincipal(principal)), "after removing the group's");
        }
    }

    private static Result tool(String... args) {
        String[] all = new String[args.length + 2];
        all[0] = "--bootstrap-server";
        all[1] = broker.bootstrap();
        System.arraycopy(args, 0, all, 2, args.length);
        // What bin/kafka-run-class.sh would pass, minus what only slows a short-lived JVM down.
        return KafkaTool.run(broker.sluice().workDir(), List.of("-Xmx256m", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1"), "org.apache.kafka.tools.AclCommand", null, all);
    }
}
