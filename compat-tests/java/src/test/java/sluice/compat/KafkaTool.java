package sluice.compat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs one of Kafka's command-line tools as its {@code bin/*.sh} script would: {@code java -cp <the tools'
 * classpath> mainClass args}, in a JVM of its own, with its stdin, stdout and stderr kept in files under a work dir.
 */
final class KafkaTool {
    private KafkaTool() {}

    static final long TIMEOUT_S = 120;

    record Result(int code, String out, String err) {
        @Override
        public String toString() {
            return "exit code " + code + "\n--- stdout ---\n" + out + "--- stderr ---\n" + err;
        }
    }

    /** Runs {@code mainClass} with {@code jvmOptions}, {@code stdin} (or none) and {@code args}, and waits for it. */
    static Result run(Path workDir, List<String> jvmOptions, String mainClass, String stdin, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", toolsClasspath(), mainClass));
        cmd.addAll(List.of(args));
        try {
            Path dir = Files.createTempDirectory(workDir, "tool-");
            Path out = dir.resolve("stdout");
            Path err = dir.resolve("stderr");
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
            if (stdin == null) {
                pb.redirectInput(ProcessBuilder.Redirect.from(Paths.get("/dev/null").toFile()));
            } else {
                Path in = dir.resolve("stdin");
                Files.writeString(in, stdin);
                pb.redirectInput(in.toFile());
            }
            Files.writeString(dir.resolve("command"), String.join(" ", cmd.stream()
                    .map(a -> a.length() > 200 ? "<classpath>" : a).toList()) + "\n");
            Process p = pb.start();
            if (!p.waitFor(TIMEOUT_S, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                throw new AssertionError(mainClass + " did not finish within " + TIMEOUT_S + "s\n"
                        + new Result(-1, Files.readString(out), Files.readString(err)));
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new AssertionError("running " + mainClass, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    private static String toolsClasspath() {
        String file = System.getProperty("kafka.tools.classpath.file", "target/kafka-tools.classpath");
        try {
            return Files.readString(Paths.get(file)).trim();
        } catch (IOException e) {
            throw new AssertionError("no tools classpath at " + file + " (run through mvn test)", e);
        }
    }
}
