package sluice.compat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@code sluice} process (or anything with its command-line contract, such as
 * {@code compat-tests/kafka/run-kafka.sh}) on a data directory that outlives restarts.
 *
 * <p>The binary is the system property {@code sluice.bin}, else the environment variable {@code SLUICE_BIN}, else
 * {@code ../../target/release/sluice} relative to this Maven project; a relative {@code SLUICE_BIN} is taken from the
 * directory {@code mvn} was started in. It is started as {@code BIN --listen
 * 127.0.0.1:0 --data-dir DIR [--config DIR/sluice.yaml]}; the real address comes from the first output line that
 * contains {@code listen=HOST:PORT}. {@link #stop()} sends SIGTERM and requires exit code 0. {@link #restart()} starts
 * again on the same data directory, possibly on another port: clients must be re-created from {@link #bootstrap()}.
 *
 * <p>Every line the broker prints goes to {@code target/sluice-work/NAME-NNNN/broker.log}; the last lines are kept in memory
 * for failure reports ({@link SluiceExtension}). {@code RUST_LOG=sluice=debug} in the environment reaches the broker.
 */
public final class Sluice implements AutoCloseable {
    private static final Pattern LISTEN = Pattern.compile("listen=(\\[[0-9a-fA-F:.]+\\]|[^\\s:]+):(\\d+)");
    /** The start-up line's every listener (named listeners): {@code listeners=NAME://HOST:PORT,...}. */
    private static final Pattern LISTENERS = Pattern.compile("listeners=\"?([^\\s\"]+)");
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);
    private static final int TAIL_LINES = 120;

    /** Brokers still running when the test JVM exits (an interrupted run) are killed rather than orphaned. */
    private static final java.util.Set<Process> RUNNING = java.util.concurrent.ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> RUNNING.forEach(Sluice::kill), "sluice-reaper"));
    }

    private final Path binary;
    private final Path workDir;
    private final Path dataDir;
    private final Path configFile;
    private final boolean namedListeners;
    private final Map<String, String> listeners = new java.util.concurrent.ConcurrentHashMap<>();
    private final Path logFile;
    private final Deque<String> tail = new ArrayDeque<>();
    private Process process;
    private Thread drainer;
    private String host;
    private int port;
    private int starts;

    /** Starts a broker named {@code name} (the name of its work directory) with these YAML config keys. */
    public static Sluice start(String name, Map<String, Object> config) {
        Sluice sluice = new Sluice(name, config);
        sluice.startProcess();
        return sluice;
    }

    private Sluice(String name, Map<String, Object> config) {
        this.binary = binary();
        this.namedListeners = config.containsKey("listeners");
        if (!Files.isRegularFile(binary)) {
            throw new IllegalStateException("Sluice binary not found at " + binary
                    + " (set SLUICE_BIN or -Dsluice.bin, or run cargo build --release -p sluice)");
        }
        try {
            Path root = Paths.get(System.getProperty("sluice.work.dir", "target/sluice-work"));
            Files.createDirectories(root);
            this.workDir = Files.createTempDirectory(root.toAbsolutePath(), name + "-");
            this.dataDir = workDir.resolve("data");
            this.logFile = workDir.resolve("broker.log");
            if (config.isEmpty()) {
                this.configFile = null;
            } else {
                this.configFile = workDir.resolve("sluice.yaml");
                StringBuilder yaml = new StringBuilder();
                config.forEach((k, v) -> yaml.append(k).append(": ").append(yamlScalar(v)).append('\n'));
                Files.writeString(configFile, yaml);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The broker binary under test, resolved as documented on the class. */
    public static Path binary() {
        String bin = System.getProperty("sluice.bin");
        if (bin == null || bin.isEmpty()) {
            bin = System.getenv("SLUICE_BIN");
        }
        if (bin == null || bin.isEmpty()) {
            Path project = Paths.get(System.getProperty("sluice.project.dir", "."));
            return project.resolve("../../target/release/sluice").toAbsolutePath().normalize();
        }
        Path path = Paths.get(bin);
        if (!path.isAbsolute()) {
            // Relative to where `mvn` was started (the forked test JVM runs in the project directory).
            path = Paths.get(System.getProperty("sluice.invocation.dir", "")).resolve(path);
        }
        return path.toAbsolutePath().normalize();
    }

    /** {@code host:port} of the running broker, for {@code bootstrap.servers}. */
    /** bootstrap.servers of the listener {@code name} of the config's {@code listeners}. */
    public String listener(String name) {
        String addr = listeners.get(name);
        if (addr == null) {
            throw new AssertionError("no listener " + name + " among " + listeners);
        }
        return addr;
    }

    public String bootstrap() {
        if (process == null) {
            throw new IllegalStateException("broker not running");
        }
        return host + ":" + port;
    }

    public Path workDir() {
        return workDir;
    }

    /** SIGTERM, then waits for the process to exit and asserts exit code 0. */
    public void stop() {
        if (process == null) {
            return;
        }
        Process p = process;
        process = null;
        // SIGTERM. Not Process.destroy(): that also closes our end of the broker's output pipe, so the broker's
        // last log lines would hit EPIPE.
        p.toHandle().destroy();
        try {
            if (!p.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                kill(p);
                p.waitFor(10, TimeUnit.SECONDS);
                throw new AssertionError("broker did not exit within " + STOP_TIMEOUT + " of SIGTERM\n" + logTail());
            }
            drainer.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            kill(p);
            throw new AssertionError("interrupted while stopping the broker", e);
        }
        if (p.exitValue() != 0) {
            throw new AssertionError("broker exited with code " + p.exitValue() + " after SIGTERM\n" + logTail());
        }
    }

    /** A graceful stop and a start on the same data directory; the port may change. */
    public void restart() {
        stop();
        startProcess();
    }

    /** Stops the broker (asserting exit code 0) and removes its data directory; the log stays. */
    @Override
    public void close() {
        try {
            stop();
        } finally {
            if (process != null) {
                kill(process);
            }
            deleteTree(dataDir);
        }
    }

    /** SIGKILL to the process and whatever it started (a wrapper script's JVM, say). */
    private static void kill(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (var paths = Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        } catch (IOException e) {
            // Best effort: it lives under target/ anyway.
        }
    }

    /** The last lines the broker printed, for failure messages. */
    public String logTail() {
        synchronized (tail) {
            return "---- last " + tail.size() + " broker log lines (" + logFile + ") ----\n"
                    + String.join("\n", tail) + "\n---- end of broker log ----";
        }
    }

    private void startProcess() {
        List<String> cmd = new ArrayList<>(List.of(binary.toString(), "--data-dir", dataDir.toString()));
        if (!namedListeners) {
            cmd.add("--listen");
            cmd.add("127.0.0.1:0");
        }
        if (configFile != null) {
            cmd.add("--config");
            cmd.add(configFile.toString());
        }
        starts++;
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).directory(workDir.toFile());
        pb.environment().put("NO_COLOR", "1");
        pb.redirectInput(ProcessBuilder.Redirect.from(Paths.get("/dev/null").toFile()));
        Object lock = new Object();
        String[] found = new String[2];
        try {
            Writer log = Files.newBufferedWriter(logFile, StandardCharsets.UTF_8,
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
            log.write("----- start #" + starts + ": " + String.join(" ", cmd) + "\n");
            log.flush();
            Process p = pb.start();
            RUNNING.add(p);
            p.onExit().thenRun(() -> RUNNING.remove(p));
            process = p;
            drainer = new Thread(() -> drain(p, log, lock, found), "sluice-log-" + workDir.getFileName());
            drainer.setDaemon(true);
            drainer.start();
            Instant deadline = Instant.now().plus(START_TIMEOUT);
            synchronized (lock) {
                while (found[0] == null) {
                    if (!p.isAlive() && !drainer.isAlive()) {
                        process = null;
                        throw new AssertionError("broker exited with code " + p.exitValue()
                                + " before printing listen=HOST:PORT\n" + logTail());
                    }
                    long left = Duration.between(Instant.now(), deadline).toMillis();
                    if (left <= 0) {
                        process = null;
                        kill(p);
                        throw new AssertionError("broker printed no listen=HOST:PORT within " + START_TIMEOUT
                                + "\n" + logTail());
                    }
                    lock.wait(Math.min(left, 200));
                }
            }
            host = found[0];
            port = Integer.parseInt(found[1]);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while starting the broker", e);
        }
    }

    private void drain(Process p, Writer log, Object lock, String[] found) {
        try (BufferedReader in = new BufferedReader(
                new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)); log) {
            String line;
            while ((line = in.readLine()) != null) {
                log.write(line);
                log.write('\n');
                log.flush();
                synchronized (tail) {
                    tail.addLast(line);
                    while (tail.size() > TAIL_LINES) {
                        tail.removeFirst();
                    }
                }
                if (found[0] == null) {
                    Matcher m = LISTEN.matcher(line);
                    if (m.find()) {
                        Matcher named = LISTENERS.matcher(line);
                        listeners.clear();
                        if (named.find()) {
                            for (String entry : named.group(1).split(",")) {
                                int at = entry.indexOf("://");
                                if (at > 0) {
                                    listeners.put(entry.substring(0, at), entry.substring(at + 3));
                                }
                            }
                        }
                        synchronized (lock) {
                            found[1] = m.group(2);
                            found[0] = m.group(1);
                            lock.notifyAll();
                        }
                    }
                }
            }
        } catch (IOException e) {
            // The process went away; what was read is in the log.
        } finally {
            synchronized (lock) {
                lock.notifyAll();
            }
        }
    }

    private static String yamlScalar(Object v) {
        if (v instanceof Map<?, ?> map) {
            // A flow mapping (sasl_plain_users, sasl_scram_users).
            StringBuilder flow = new StringBuilder("{");
            map.forEach((k, val) -> flow.append(flow.length() > 1 ? ", " : "").append(yamlScalar(k.toString()))
                    .append(": ").append(yamlScalar(val)));
            return flow.append('}').toString();
        }
        if (v instanceof Number || v instanceof Boolean) {
            return v.toString();
        }
        return '"' + v.toString().replace("\\", "\\\\").replace("\"", "\\\"") + '"';
    }
}
