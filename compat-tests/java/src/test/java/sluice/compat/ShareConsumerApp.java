package sluice.compat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;

/**
 * A share consumer in a JVM of its own for {@link ShareConsumerTest}: {@code ShareConsumerApp BOOTSTRAP GROUP TOPIC}
 * polls in explicit acknowledgement mode until it has records, prints {@code ACQUIRED offset,offset,...} and then
 * waits to be killed without acknowledging anything, so its acquisition locks are left for the broker to expire.
 */
public final class ShareConsumerApp {
    private ShareConsumerApp() {
    }

    public static void main(String[] args) throws InterruptedException {
        String bootstrap = args[0];
        String group = args[1];
        String topic = args[2];
        KafkaShareConsumer<String, String> consumer = ShareConsumerTest.shareConsumer(bootstrap, group,
                Map.of("share.acknowledgement.mode", "explicit"));
        consumer.subscribe(List.of(topic));
        while (true) {
            ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(200));
            if (!records.isEmpty()) {
                StringBuilder offsets = new StringBuilder();
                for (ConsumerRecord<String, String> r : records) {
                    offsets.append(offsets.length() == 0 ? "" : ",").append(r.offset());
                }
                System.out.println("ACQUIRED " + offsets);
                System.out.flush();
                break;
            }
        }
        // Neither poll (which would keep heartbeating the share session) nor close (which releases): just wait.
        Thread.sleep(Long.MAX_VALUE);
    }
}
