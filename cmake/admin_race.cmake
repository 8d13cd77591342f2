# tests/test_kbs_admin_import_race.c makes the admin import's race deterministic: calls to
# ccg_store_key_get from the library go through the test's wrapper (GNU ld --wrap), which lets a rival's
# import land between the handler's two looks at the key ID. No test hook in the library itself, so the
# test runs the same in every build (the mutation build included).
if(CCG_TESTS AND TARGET test_kbs_admin_import_race)
  target_link_options(test_kbs_admin_import_race PRIVATE -Wl,--wrap=ccg_store_key_get)
endif()
