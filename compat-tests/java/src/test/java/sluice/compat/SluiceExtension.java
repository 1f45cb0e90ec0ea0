package sluice.compat;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * One broker for a test class: started before its first test, stopped (exit code 0 asserted) after its last; a
 * failing test gets the broker's last log lines on stderr.
 *
 * <pre>
 * &#64;RegisterExtension
 * static final SluiceExtension broker = new SluiceExtension("admin", Map.of("num_partitions", 3));
 * </pre>
 *
 * <p>Every broker gets {@link #TEST_DEFAULTS}, so the keys a test passes only add to or override them.
 */
public final class SluiceExtension implements BeforeAllCallback, AfterAllCallback, TestWatcher {
    /** Short group session timeouts and a busy cleaner, so nothing in a test waits for Kafka's defaults. */
    public static final Map<String, Object> TEST_DEFAULTS = Map.of(
            "group_min_session_timeout_ms", 100,
            "log_cleanup_interval_ms", 500);

    private final String name;
    private final Map<String, Object> config;
    private Sluice sluice;

    public SluiceExtension(String name) {
        this(name, Map.of());
    }

    public SluiceExtension(String name, Map<String, Object> config) {
        this.name = name;
        this.config = new LinkedHashMap<>(TEST_DEFAULTS);
        this.config.putAll(config);
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        sluice = Sluice.start(name, config);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (sluice != null) {
            sluice.close();
        }
    }

    @Override
    public void testFailed(ExtensionContext context, Throwable cause) {
        if (sluice != null) {
            System.err.println("FAILED " + context.getDisplayName() + " (" + context.getRequiredTestClass().getSimpleName()
                    + ")\n" + sluice.logTail());
        }
    }

    @Override
    public void testDisabled(ExtensionContext context, Optional<String> reason) {
    }

    public Sluice sluice() {
        return sluice;
    }

    public String bootstrap() {
        return sluice.bootstrap();
    }
}
