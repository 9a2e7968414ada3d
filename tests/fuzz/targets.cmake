# Fuzz targets: airlock_fuzz(NAME module sources...)
airlock_fuzz(fuzz_vici_msg ${CMAKE_SOURCE_DIR}/tunnel/vici_msg.c)
airlock_fuzz(fuzz_config ${CMAKE_SOURCE_DIR}/common/config.c ${CMAKE_SOURCE_DIR}/common/log.c)
airlock_fuzz(fuzz_smtp_cmd ${CMAKE_SOURCE_DIR}/relay/smtp_cmd.c ${CMAKE_SOURCE_DIR}/relay/smtp_addr.c
	${CMAKE_SOURCE_DIR}/relay/smtp_cmd_reply.c)
airlock_fuzz(fuzz_smtp_addr ${CMAKE_SOURCE_DIR}/relay/smtp_addr.c
	${CMAKE_SOURCE_DIR}/relay/smtp_cmd_reply.c)
airlock_fuzz(fuzz_smtp_body ${CMAKE_SOURCE_DIR}/relay/smtp_body.c
	${CMAKE_SOURCE_DIR}/relay/smtp_cmd_reply.c)
airlock_fuzz(fuzz_ts ${CMAKE_SOURCE_DIR}/tunnel/ts.c)
airlock_fuzz(fuzz_sa_table ${CMAKE_SOURCE_DIR}/tunnel/sa_table.c ${CMAKE_SOURCE_DIR}/tunnel/ts.c
	${CMAKE_SOURCE_DIR}/tunnel/vici_msg.c)
