# Fuzz targets: airlock_fuzz(NAME module sources...)
airlock_fuzz(fuzz_vici_msg ${CMAKE_SOURCE_DIR}/tunnel/vici_msg.c)
airlock_fuzz(fuzz_config ${CMAKE_SOURCE_DIR}/common/config.c ${CMAKE_SOURCE_DIR}/common/config_schema.c
	${CMAKE_SOURCE_DIR}/common/config_scan.c ${CMAKE_SOURCE_DIR}/common/log.c)
airlock_fuzz(fuzz_smtp_cmd ${CMAKE_SOURCE_DIR}/relay/smtp_cmd.c ${CMAKE_SOURCE_DIR}/relay/smtp_addr.c
	${CMAKE_SOURCE_DIR}/relay/smtp_cmd_reply.c)
airlock_fuzz(fuzz_smtp_addr ${CMAKE_SOURCE_DIR}/relay/smtp_addr.c
	${CMAKE_SOURCE_DIR}/relay/smtp_cmd_reply.c)
airlock_fuzz(fuzz_smtp_body ${CMAKE_SOURCE_DIR}/relay/smtp_body.c
	${CMAKE_SOURCE_DIR}/relay/smtp_cmd_reply.c)
airlock_fuzz(fuzz_ts ${CMAKE_SOURCE_DIR}/tunnel/ts.c)
airlock_fuzz(fuzz_sa_table ${CMAKE_SOURCE_DIR}/tunnel/sa_table.c ${CMAKE_SOURCE_DIR}/tunnel/ts.c
	${CMAKE_SOURCE_DIR}/tunnel/sa_parse.c ${CMAKE_SOURCE_DIR}/tunnel/vici_msg.c)
airlock_fuzz(fuzz_smtp_reply ${CMAKE_SOURCE_DIR}/relay/smtp_client_reply.c)
airlock_fuzz(fuzz_smtp_content ${CMAKE_SOURCE_DIR}/relay/smtp_client_content.c)
airlock_fuzz(fuzz_queue_file ${CMAKE_SOURCE_DIR}/relay/queue_file.c)
airlock_fuzz(fuzz_ipc ${CMAKE_SOURCE_DIR}/relay/ipc.c)
airlock_fuzz(fuzz_control ${CMAKE_SOURCE_DIR}/relay/control.c)
airlock_fuzz(fuzz_smtp_session ${CMAKE_SOURCE_DIR}/relay/smtp_server.c
	${CMAKE_SOURCE_DIR}/relay/smtp_session.c ${CMAKE_SOURCE_DIR}/relay/smtp_session_data.c
	${CMAKE_SOURCE_DIR}/relay/smtp_session_envelope.c
	${CMAKE_SOURCE_DIR}/relay/smtp_tls.c ${CMAKE_SOURCE_DIR}/relay/smtp_cmd.c
	${CMAKE_SOURCE_DIR}/relay/smtp_addr.c ${CMAKE_SOURCE_DIR}/relay/smtp_body.c
	${CMAKE_SOURCE_DIR}/relay/smtp_cmd_reply.c)
airlock_fuzz(fuzz_transport_rules ${CMAKE_SOURCE_DIR}/policy/transport_rules.c
	${CMAKE_SOURCE_DIR}/policy/transport_rules_config.c)
airlock_fuzz(fuzz_scan_engine ${CMAKE_SOURCE_DIR}/relay/scan_engine.c
	${CMAKE_SOURCE_DIR}/relay/scan_engine_reload.c)
airlock_fuzz(fuzz_attest ${CMAKE_SOURCE_DIR}/relay/attest.c ${CMAKE_SOURCE_DIR}/relay/attest_keys.c)
airlock_fuzz(fuzz_mime_walk ${CMAKE_SOURCE_DIR}/policy/mime_walk.c
	${CMAKE_SOURCE_DIR}/policy/mime_archive.c ${CMAKE_SOURCE_DIR}/policy/attach_policy.c)
airlock_fuzz(fuzz_cert_bundle ${CMAKE_SOURCE_DIR}/tunnel/cert_bundle.c
	${CMAKE_SOURCE_DIR}/tunnel/cert_bundle_seal.c)
airlock_fuzz(fuzz_gate ${CMAKE_SOURCE_DIR}/policy/gate.c ${CMAKE_SOURCE_DIR}/tunnel/tunnel_socket.c
	${CMAKE_SOURCE_DIR}/tunnel/sa_table.c ${CMAKE_SOURCE_DIR}/tunnel/ts.c
	${CMAKE_SOURCE_DIR}/tunnel/sa_parse.c ${CMAKE_SOURCE_DIR}/tunnel/vici_msg.c)
airlock_fuzz(fuzz_scan_rewrite ${CMAKE_SOURCE_DIR}/relay/scan_rewrite.c
	${CMAKE_SOURCE_DIR}/relay/scan_reply.c ${CMAKE_SOURCE_DIR}/relay/ipc.c)
airlock_fuzz(fuzz_forward_hubs ${CMAKE_SOURCE_DIR}/relay/forward_hubs.c)
airlock_fuzz(fuzz_hub_msg ${CMAKE_SOURCE_DIR}/relay/hub/hub_msg.c ${CMAKE_SOURCE_DIR}/relay/ipc.c
	${CMAKE_SOURCE_DIR}/relay/attest.c ${CMAKE_SOURCE_DIR}/relay/attest_keys.c
	${CMAKE_SOURCE_DIR}/policy/gate.c ${CMAKE_SOURCE_DIR}/tunnel/sa_table.c
	${CMAKE_SOURCE_DIR}/tunnel/ts.c ${CMAKE_SOURCE_DIR}/tunnel/sa_parse.c
	${CMAKE_SOURCE_DIR}/tunnel/vici_msg.c)
airlock_fuzz(fuzz_acert_params ${CMAKE_SOURCE_DIR}/tunnel/airlock_cert/acert_params.c
	${CMAKE_SOURCE_DIR}/tunnel/airlock_cert/acert_frag.c ${CMAKE_SOURCE_DIR}/tunnel/vici_msg.c)
airlock_fuzz(fuzz_acert_csr_request ${CMAKE_SOURCE_DIR}/tunnel/airlock_cert/acert_csr_request.c
	${CMAKE_SOURCE_DIR}/tunnel/airlock_cert/acert_x509.c
	${CMAKE_SOURCE_DIR}/tunnel/airlock_cert/acert_attest.c)
airlock_fuzz(fuzz_attest_edit ${CMAKE_SOURCE_DIR}/relay/attest_edit.c
	${CMAKE_SOURCE_DIR}/relay/attest.c ${CMAKE_SOURCE_DIR}/relay/attest_keys.c
	${CMAKE_SOURCE_DIR}/relay/scan_rewrite.c)
