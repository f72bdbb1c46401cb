//! JetStream: one stream per deployment and one durable pull consumer that every processor
//! process pulls from, so the work spreads across them. Explicit acks after commit give
//! at-least-once; the processor's payload_id check makes redelivery harmless.

use super::{envelope, Delivery, Handle};
use anyhow::{anyhow, Context, Result};
use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy, stream};
use futures_util::StreamExt;
use std::time::Duration;

pub struct NatsQueue {
    js: jetstream::Context,
    subject: String,
    consumer: jetstream::consumer::Consumer<pull::Config>,
}

impl NatsQueue {
    pub async fn connect(url: &str, stream_name: &str) -> Result<Self> {
        let client = async_nats::connect(url)
            .await
            .with_context(|| format!("cannot connect to NATS at --queue {url}"))?;
        let js = jetstream::new(client);
        let subject = format!("{stream_name}.payloads");
        let stream = js
            .get_or_create_stream(stream::Config {
                name: stream_name.to_string(),
                subjects: vec![subject.clone()],
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow!("cannot create JetStream stream {stream_name}: {e}"))?;
        let consumer = stream
            .get_or_create_consumer(
                "processors",
                pull::Config {
                    durable_name: Some("processors".to_string()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(60),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow!("cannot create JetStream consumer on {stream_name}: {e}"))?;
        Ok(Self {
            js,
            subject,
            consumer,
        })
    }

    pub async fn enqueue(&self, app_id: i64, body: Vec<u8>) -> Result<()> {
        // Waiting for the stream's ack is what makes the Push API's 200 mean "stored".
        self.js
            .publish(self.subject.clone(), envelope::encode(app_id, &body).into())
            .await
            .map_err(|e| anyhow!("JetStream publish: {e}"))?
            .await
            .map_err(|e| anyhow!("JetStream publish ack: {e}"))?;
        Ok(())
    }

    pub async fn next_batch(&self, max: usize) -> Result<Vec<Delivery>> {
        let mut messages = self
            .consumer
            .fetch()
            .max_messages(max)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .map_err(|e| anyhow!("JetStream fetch: {e}"))?;
        let mut out = Vec::new();
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| anyhow!("JetStream message: {e}"))?;
            match envelope::decode(&message.payload) {
                Some((app_id, body)) => out.push(Delivery {
                    app_id,
                    body: body.to_vec(),
                    attempt: message
                        .info()
                        .map_or(1, |info| u32::try_from(info.delivered).unwrap_or(u32::MAX)),
                    handle: Handle::Nats(Box::new(message)),
                }),
                None => {
                    // Not ours and never will be: terminate it instead of redelivering forever.
                    let _ = message.ack_with(jetstream::AckKind::Term).await;
                }
            }
        }
        Ok(out)
    }
}

pub async fn ack(message: &jetstream::Message) -> Result<()> {
    message
        .ack()
        .await
        .map_err(|e| anyhow!("JetStream ack: {e}"))
}
